"""Reading the two OpenAPI documents in tests: operations, parameters, schemas
(with ``$ref`` resolved), example URLs and the error-envelope checks shared by
``test_bad_input`` and ``test_openapi``.

The documents are the single list of endpoints the tests walk, so an endpoint
added to either API is covered without touching the tests.
"""
from __future__ import annotations

import copy
import itertools
import re
import tempfile
from pathlib import Path

MP = "/api/mp/v1"
ADMIN = "/admin/api/v1"
PREFIXES = (MP, ADMIN)
SPEC_FILE = "openapi.json"
DOCS_PAGE = "docs"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

CJK = re.compile(r"[\u4e00-\u9fff]")
# What must never reach a client: stack traces, library internals, SQL.
LEAK_PATTERNS = [re.compile(p) for p in (
    r"Traceback", r'File "', r"(?i)sqlalchemy", r"(?i)psycopg", r"(?i)sqlite3?\.", r"(?i)werkzeug",
    r"\bSELECT\b", r"\bINSERT INTO\b", r"\bUPDATE\b \S+ \bSET\b", r"\bDELETE FROM\b", r"\bFROM \"?\w+\"? WHERE\b",
    r"\(Background on this error",
)]


# --- loading ----------------------------------------------------------------------------

def load_spec(client, prefix: str) -> dict:
    response = client.get(f"{prefix}/{SPEC_FILE}")
    assert response.status_code == 200, f"{prefix}/{SPEC_FILE}: {response.status_code}"
    assert response.mimetype == "application/json"
    return response.get_json()


def spec_snapshot() -> dict[str, dict]:
    """Both documents from a throwaway app, at collection time, to parametrize tests
    per endpoint. Building the documents touches no database."""
    from tests.conftest import make_app
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{tmp}/collect.db", Path(tmp) / "instance")
        client = app.test_client()
        return {prefix: load_spec(client, prefix) for prefix in PREFIXES}


# --- references ------------------------------------------------------------------------------

def resolve(spec: dict, node):
    """Follow a chain of local ``$ref`` until a real object."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are expected, got {ref}"
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        target = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, f"dangling reference {ref}"
            target = target[part]
        node = target
    return node


def deref(spec: dict, node, _stack: tuple[str, ...] = ()):
    """A copy of ``node`` with every local ``$ref`` inlined (cycles left as refs)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in _stack:
                return copy.deepcopy(node)
            return deref(spec, resolve(spec, {"$ref": ref}), _stack + (ref,))
        return {key: deref(spec, value, _stack) for key, value in node.items()}
    if isinstance(node, list):
        return [deref(spec, value, _stack) for value in node]
    return node


# --- operations ------------------------------------------------------------------------------

class Operation:
    """One method on one path of one document."""

    def __init__(self, prefix: str, spec: dict, path: str, method: str):
        self.prefix, self.spec, self.path, self.method = prefix, spec, path, method
        self.path_item = spec["paths"][path]
        self.op = self.path_item[method]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    __repr__ = __str__

    @property
    def parameters(self) -> list[dict]:
        merged: dict[tuple[str, str], dict] = {}
        for raw in self.path_item.get("parameters", []) + self.op.get("parameters", []):
            param = deref(self.spec, raw)
            merged[(param["in"], param["name"])] = param
        return list(merged.values())

    @property
    def path_parameters(self) -> list[dict]:
        return [p for p in self.parameters if p["in"] == "path"]

    @property
    def query_parameters(self) -> list[dict]:
        return [p for p in self.parameters if p["in"] == "query"]

    @property
    def security(self) -> list[dict]:
        return self.op.get("security", self.spec.get("security", []))

    @property
    def requires_bearer(self) -> bool:
        return any("bearerAuth" in requirement for requirement in self.security)

    @property
    def body_schema(self) -> dict | None:
        body = self.op.get("requestBody")
        if body is None:
            return None
        body = resolve(self.spec, body)
        content = body.get("content", {})
        assert "application/json" in content, f"{self}: request body is not documented as JSON: {list(content)}"
        return deref(self.spec, content["application/json"]["schema"])

    @property
    def responses(self) -> dict[str, dict]:
        return {str(status): resolve(self.spec, response) for status, response in self.op["responses"].items()}


def operations(spec: dict, prefix: str) -> list[Operation]:
    return [Operation(prefix, spec, path, method)
            for path, item in spec.get("paths", {}).items()
            for method in HTTP_METHODS if method in item]


def find_operation(spec: dict, prefix: str, path: str, method: str) -> Operation:
    assert path in spec.get("paths", {}) and method in spec["paths"][path], \
        f"{method.upper()} {path} is no longer in {prefix}/{SPEC_FILE}"
    return Operation(prefix, spec, path, method)


class Target:
    """An operation with its enumerated path parameters (``{action}``) filled in:
    one concrete endpoint to attack."""

    def __init__(self, operation: Operation, fixed: dict[str, str]):
        self.operation, self.fixed = operation, fixed

    @property
    def template(self) -> str:
        path = self.operation.path
        for name, value in self.fixed.items():
            path = path.replace("{" + name + "}", str(value))
        return path

    def __str__(self) -> str:
        return f"{self.operation.method.upper()} {self.template}"

    __repr__ = __str__


def targets(ops: list[Operation]) -> list[Target]:
    found = []
    for op in ops:
        enumerated = [p for p in op.path_parameters if "enum" in p.get("schema", {})]
        names = [p["name"] for p in enumerated]
        for combo in itertools.product(*[p["schema"]["enum"] for p in enumerated]):
            found.append(Target(op, dict(zip(names, combo))))
    return found


def fill_path(template: str, values: dict[str, object]) -> str:
    def substitute(match):
        name = match.group(1)
        assert name in values, f"no value for path parameter {name!r} of {template}"
        return str(values[name])
    return re.sub(r"\{([^{}]+)\}", substitute, template)


# --- Flask routes ------------------------------------------------------------------------------

RULE_VARIABLE = re.compile(r"<(?:([^<>:]+?)(?:\(([^<>]*)\))?:)?([^<>:]+)>")


def rule_to_openapi_path(rule: str) -> str:
    """``/x/<int:consultant_id>/<any(a, b):action>`` → ``/x/{consultant_id}/{action}``."""
    return RULE_VARIABLE.sub(lambda m: "{" + m.group(3) + "}", rule)


def example_rule_url(rule: str) -> str:
    """A URL that the rule matches: ints → 1, ``any(...)`` → its first choice, others → x."""
    def substitute(match):
        converter, args = match.group(1), match.group(2)
        if converter == "int":
            return "1"
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return "x"
    return RULE_VARIABLE.sub(substitute, rule)


def is_docs_endpoint(rule) -> bool:
    """The OpenAPI document and Swagger UI page that flask-smorest registers itself."""
    blueprint = rule.endpoint.rpartition(".")[0]
    return blueprint.endswith("api-docs") or rule.rule.endswith((f"/{SPEC_FILE}", f"/{DOCS_PAGE}"))


def api_rules(app, prefix: str):
    """Every URL rule of the app under ``prefix`` except the docs themselves."""
    return [rule for rule in app.url_map.iter_rules()
            if (rule.rule == prefix or rule.rule.startswith(prefix + "/")) and not is_docs_endpoint(rule)]


def rule_methods(rule) -> set[str]:
    return {m.lower() for m in rule.methods} - {"head", "options"}


# --- example values (from a schema) ---------------------------------------------------------

FORMAT_EXAMPLES = {"date-time": "2024-05-01T10:00:00+08:00", "date": "2024-05-01", "email": "a@example.com",
                   "uri": "https://example.com/", "url": "https://example.com/",
                   "uuid": "12345678-1234-5678-1234-567812345678"}


def example_value(schema: dict, where: str = ""):
    """A value that passes the JSON schema's own constraints (type, enum, length, pattern, range)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") in FORMAT_EXAMPLES:
            return FORMAT_EXAMPLES[schema["format"]]
        low = max(schema.get("minLength", 1), 1)
        high = schema.get("maxLength", max(low, 256))
        pattern = schema.get("pattern")
        for length in range(low, high + 1):
            for char in "a0":
                candidate = char * length
                if pattern is None or re.search(pattern, candidate):
                    return candidate
        raise AssertionError(f"{where}: cannot make a string for {schema}; teach example_value this pattern")
    if kind in ("integer", "number"):
        value = schema.get("minimum", 1) + (1 if schema.get("exclusiveMinimum") is True else 0)
        return min(value, schema["maximum"]) if "maximum" in schema else value
    if kind == "boolean":
        return True
    if kind == "array":
        return [example_value(schema["items"], where)] * schema.get("minItems", 0)
    if kind == "object" or "properties" in schema:
        return {name: example_value(prop, f"{where}.{name}")
                for name, prop in schema.get("properties", {}).items() if name in schema.get("required", [])}
    raise AssertionError(f"{where}: cannot make an example for {schema}")


def valid_body(schema: dict, where: str = "") -> dict:
    """Only the required properties, each with a schema-valid value."""
    return example_value(schema, where)


WRONG_TYPES = {
    "string": [12345, 1.5, True, {"x": "y"}, ["x"]],
    "integer": ["abc", "1", 1.5, True, {"x": 1}, [1]],
    "number": ["abc", "1.5", True, {"x": 1}, [1]],
    "boolean": ["maybe", 12345, {"x": True}, [True]],
    "object": ["x", 1, ["x"]],
    "array": ["x", 1, {"x": 1}],
}


def wrong_values(schema: dict, where: str, *, query: bool = False) -> list[tuple[str, object]]:
    """(label, value) pairs that must be refused for a property: wrong JSON types,
    null where not nullable, and each violated constraint. In a query string every
    value is a string, so there only unparsable and out-of-range values apply."""
    kind = schema.get("type")
    assert kind in WRONG_TYPES, f"{where}: property without a known type: {schema}"
    cases: list[tuple[str, object]] = []
    if query:
        if kind in ("integer", "number"):
            cases += [("not a number", "abc"), ("empty", "")]
            if kind == "integer":
                cases.append(("not an integer", "1.5"))
        if kind == "boolean":
            cases.append(("not a boolean", "maybe"))
        if schema.get("format") in ("date", "date-time"):
            cases += [("not a date", "2026-13-45"), ("not a date at all", "yesterday")]
    else:
        cases += [(f"{type(value).__name__} instead of {kind}", value) for value in WRONG_TYPES[kind]]
        if not schema.get("nullable"):
            cases.append(("null", None))
    if "enum" in schema:
        cases.append(("not one of the choices", "no-such-choice"))
    if kind == "string":
        if schema.get("minLength", 0) >= 1:
            cases.append(("shorter than minLength", "a" * (schema["minLength"] - 1)))
        if "maxLength" in schema:
            cases.append(("longer than maxLength", "a" * (schema["maxLength"] + 1)))
        if "pattern" in schema:
            length = max(schema.get("minLength", 1), 1)
            bad = "!" * length
            if not re.search(schema["pattern"], bad):
                cases.append(("not matching the pattern", bad))
    if kind in ("integer", "number"):
        if "minimum" in schema:
            below = schema["minimum"] - 1
            cases.append(("below minimum", str(below) if query else below))
        if "maximum" in schema:
            above = schema["maximum"] + 1
            cases.append(("above maximum", str(above) if query else above))
    return cases


# --- error envelope --------------------------------------------------------------------------

def assert_no_leak(text: str, where: str = "") -> None:
    for pattern in LEAK_PATTERNS:
        assert not pattern.search(text), f"{where}: response leaks internals ({pattern.pattern}): {text[:500]}"


def assert_error_envelope(response, status: int, code: str | None = None, where: str = "") -> dict:
    """The response is ``{"error": {"code", "message" (Chinese), "details", "request_id"}}`` with
    ``status``; the request id is the one in the ``X-Request-ID`` header."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, f"{where}: expected {status}, got {response.status_code}: {text[:500]}"
    assert response.mimetype == "application/json", f"{where}: {response.mimetype}: {text[:300]}"
    payload = response.get_json()
    assert isinstance(payload, dict) and set(payload) == {"error"}, f"{where}: not the envelope: {payload}"
    error = payload["error"]
    assert set(error) == {"code", "message", "details", "request_id"}, f"{where}: envelope keys {sorted(error)}"
    assert error["request_id"] == response.headers.get("X-Request-ID"), f"{where}: request id {error}"
    assert isinstance(error["code"], str) and error["code"], f"{where}: code {error['code']!r}"
    if code is not None:
        assert error["code"] == code, f"{where}: expected code {code}, got {error['code']}: {error}"
    assert isinstance(error["message"], str) and CJK.search(error["message"]), \
        f"{where}: message is not Chinese: {error['message']!r}"
    assert isinstance(error["details"], dict), f"{where}: details {error['details']!r}"
    assert_no_leak(text, where)
    return error


def field_errors(error: dict, where: str = "") -> dict[str, list[str]]:
    fields = error["details"].get("fields")
    assert isinstance(fields, dict) and fields, f"{where}: details.fields missing or empty: {error}"
    for name, messages in fields.items():
        flat = list(_flatten(messages))
        assert flat and all(isinstance(m, str) and CJK.search(m) for m in flat), \
            f"{where}: field {name!r} has a non-Chinese message: {messages!r}"
    return fields


def _flatten(messages):
    if isinstance(messages, dict):
        for value in messages.values():
            yield from _flatten(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from _flatten(value)
    else:
        yield messages
