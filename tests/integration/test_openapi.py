"""The two OpenAPI documents (/api/mp/v1 and /admin/api/v1) and their Swagger UI pages.

* each document is valid OpenAPI 3 and lists exactly the Flask routes under its prefix;
* every operation documents its refusals: at least one 4xx, 401 plus ``security:
  bearerAuth`` wherever a bearer token is required (checked against what the app
  really does without a token), and every error response is the error envelope;
* the docs pages work offline: every script and stylesheet is served by the app.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator

from . import openapi_helpers as oa


@pytest.fixture
def specs(client) -> dict[str, dict]:
    return {prefix: oa.load_spec(client, prefix) for prefix in oa.PREFIXES}


def is_error_status(status: str) -> bool:
    return status == "default" or status[0] in "45"


# --- validity ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_document_is_valid_openapi_3(specs, prefix):
    spec = specs[prefix]
    assert spec["openapi"].startswith("3.0."), spec.get("openapi")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert not errors, "\n".join(errors)
    assert spec["info"]["title"] and oa.CJK.search(spec["info"]["title"])
    assert spec["paths"], "no paths documented"


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_document_lists_exactly_the_registered_routes(app, specs, prefix):
    rules = oa.api_rules(app, prefix)
    assert rules, f"no routes registered under {prefix}"
    registered = {(oa.rule_to_openapi_path(rule.rule), method) for rule in rules for method in oa.rule_methods(rule)}
    documented = {(op.path, op.method) for op in oa.operations(specs[prefix], prefix)}
    missing = sorted(registered - documented)
    stale = sorted(documented - registered)
    assert not missing, f"routes of the app missing from {prefix}/openapi.json: {missing}"
    assert not stale, f"{prefix}/openapi.json documents routes the app does not have: {stale}"
    for path in specs[prefix]["paths"]:
        assert path.startswith(prefix + "/"), f"{path} documented in the {prefix} document"


def test_docs_routes_are_registered_and_excluded(app):
    """The exclusion above removes the docs themselves and nothing else."""
    excluded = sorted(rule.rule for prefix in oa.PREFIXES for rule in app.url_map.iter_rules()
                      if rule.rule.startswith(prefix + "/") and rule not in oa.api_rules(app, prefix))
    assert excluded == sorted(f"{prefix}/{page}" for prefix in oa.PREFIXES for page in (oa.SPEC_FILE, oa.DOCS_PAGE))


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_path_parameters_are_declared(specs, prefix):
    for op in oa.operations(specs[prefix], prefix):
        in_path = set(re.findall(r"\{([^{}]+)\}", op.path))
        declared = {p["name"] for p in op.path_parameters}
        assert in_path == declared, f"{op}: path has {in_path}, parameters declare {declared}"
        for param in op.path_parameters:
            assert param.get("required") is True and param.get("schema", {}).get("type"), f"{op}: {param}"


# --- refusals ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_every_operation_documents_a_4xx_response(specs, prefix):
    for op in oa.operations(specs[prefix], prefix):
        client_errors = [status for status in op.responses if re.fullmatch(r"4\d\d", status)]
        assert client_errors, f"{op} documents no 4xx response: {sorted(op.responses)}"
        for status in client_errors:
            assert op.responses[status].get("description"), f"{op} {status} has no description"


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_every_operation_with_a_body_documents_400_and_422(specs, prefix):
    """Malformed JSON (400 malformed_json) and schema errors (422) can happen on every body."""
    failures = []
    for op in oa.operations(specs[prefix], prefix):
        if op.op.get("requestBody"):
            for status, what in (("400", "malformed JSON"), ("422", "validation errors")):
                if status not in op.responses:
                    failures.append(f"{op} takes a JSON body but does not document {status} ({what})")
    assert not failures, "\n".join(failures)


def error_schema_problems(spec: dict, schema: dict) -> list[str]:
    """What is missing for ``schema`` to describe {"error": {"code", "message", "details"}}."""
    schema = oa.resolve(spec, schema)
    problems = []
    if schema.get("type") != "object":
        problems.append(f"envelope type is {schema.get('type')}")
    if "error" not in schema.get("required", []):
        problems.append("error is not required")
    body = oa.resolve(spec, schema.get("properties", {}).get("error", {}))
    properties = body.get("properties", {})
    expected = {"code": "string", "message": "string", "details": "object"}
    for name, kind in expected.items():
        prop = oa.resolve(spec, properties.get(name, {}))
        if prop.get("type") != kind:
            problems.append(f"error.{name} should be {kind}, is {prop or 'missing'}")
    for name in ("code", "message"):
        if name not in body.get("required", []):
            problems.append(f"error.{name} is not required")
    return problems


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_documented_error_responses_are_the_error_envelope(specs, prefix):
    spec = specs[prefix]
    failures = []
    for op in oa.operations(spec, prefix):
        for status, response in op.responses.items():
            if not is_error_status(status):
                continue
            content = response.get("content", {})
            if "application/json" not in content:
                failures.append(f"{op} {status}: no application/json content")
                continue
            for problem in error_schema_problems(spec, content["application/json"].get("schema", {})):
                failures.append(f"{op} {status}: {problem}")
    assert not failures, "\n".join(failures)


def probe_without_token(client, op: oa.Operation):
    """Call the operation as an anonymous client would (any id, the first ``{action}``)."""
    values = {p["name"]: p["schema"]["enum"][0] if "enum" in p["schema"] else 1 for p in op.path_parameters}
    url = oa.fill_path(op.path, values)
    kwargs = {"json": {}} if op.op.get("requestBody") else {}
    return client.open(url, method=op.method.upper(), **kwargs)


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_bearer_token_operations_document_401_and_security(client, specs, counts, prefix):
    spec = specs[prefix]
    schemes = spec.get("components", {}).get("securitySchemes", {})
    assert schemes.get("bearerAuth") == {**schemes.get("bearerAuth", {}), "type": "http", "scheme": "bearer"}, schemes
    before = counts()
    failures, protected = [], 0
    for op in oa.operations(spec, prefix):
        response = probe_without_token(client, op)
        needs_token = response.status_code == 401
        protected += needs_token
        for requirement in op.security:
            for name in requirement:
                if name not in schemes:
                    failures.append(f"{op}: security names undefined scheme {name!r}")
        if needs_token:
            error = oa.assert_error_envelope(response, 401, "token_missing", f"{op} without a token")
            if "401" not in op.responses:
                failures.append(f"{op}: refuses anonymous callers with 401 but does not document 401")
            else:
                documented = oa.deref(spec, op.responses["401"]["content"]["application/json"]["schema"])
                validation = [e.message for e in OAS30Validator(documented).iter_errors(response.get_json())]
                if validation:
                    failures.append(f"{op}: the real 401 does not match its documented schema: {validation}")
            if not op.requires_bearer:
                failures.append(f"{op}: refuses anonymous callers with 401 but has no security: bearerAuth")
            assert error["details"] == {}
        elif op.requires_bearer:
            failures.append(f"{op}: documents bearerAuth but answers {response.status_code} without a token")
    assert protected, f"no operation under {prefix} requires a token?"
    assert not failures, "\n".join(failures)
    assert counts() == before


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_real_error_responses_match_the_documented_envelope(client, specs, prefix):
    """A 404 (unknown URL) and a 422 match the schema of the document's default error."""
    spec = specs[prefix]
    default = oa.resolve(spec, spec["components"]["responses"]["DEFAULT_ERROR"])
    schema = oa.deref(spec, default["content"]["application/json"]["schema"])
    responses = [client.get(f"{prefix}/no-such-endpoint")]
    public = [op for op in oa.operations(spec, prefix) if op.op.get("requestBody") and not op.requires_bearer]
    assert public, f"expected a public endpoint with a body (login) under {prefix}"
    responses.append(client.open(oa.fill_path(public[0].path, {}), method=public[0].method.upper(),
                                 json={"unexpected_field": 1}))
    for response in responses:
        assert response.status_code in (404, 422)
        errors = [e.message for e in OAS30Validator(schema).iter_errors(response.get_json())]
        assert not errors, (response.get_json(), errors)


# --- Swagger UI --------------------------------------------------------------------------------------------

class AssetParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.other_links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            (self.stylesheets if "stylesheet" in (attrs.get("rel") or "") else self.other_links).append(attrs["href"])
        elif tag in ("img", "iframe") and attrs.get("src"):
            self.other_links.append(attrs["src"])


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_swagger_ui_page_loads_with_assets_served_by_the_app(client, prefix):
    page = client.get(f"{prefix}/{oa.DOCS_PAGE}")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    external = re.findall(r"(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'<>]*", html)
    assert "http://" not in html and "https://" not in html and not external, f"external URLs in the page: {external}"

    parser = AssetParser()
    parser.feed(html)
    assert parser.scripts and parser.stylesheets, (parser.scripts, parser.stylesheets)
    expected_types = {"script": ("javascript",), "stylesheet": ("css",), "other": ("",)}
    assets = ([("script", u) for u in parser.scripts] + [("stylesheet", u) for u in parser.stylesheets]
              + [("other", u) for u in parser.other_links])
    for kind, url in assets:
        assert url.startswith("/") and not url.startswith("//"), f"{kind} {url} is not served by the app"
        if kind != "other":
            assert url.startswith("/vendor/swagger-ui/"), f"{kind} {url} is not under /vendor/swagger-ui/"
        response = client.get(url)
        try:
            assert response.status_code == 200, f"{url}: {response.status_code}"
            assert len(response.get_data()) > 1000 or kind == "other", f"{url} is (nearly) empty"
            assert any(t in response.mimetype for t in expected_types[kind]), f"{url}: {response.mimetype}"
        finally:
            response.close()
    assert any("swagger-ui-bundle" in url for url in parser.scripts)

    # The page loads its own document.
    spec_urls = re.findall(r"""url:\s*["']([^"']+)["']""", html)
    assert spec_urls == [f"{prefix}/{oa.SPEC_FILE}"], spec_urls
    assert client.get(spec_urls[0]).get_json()["openapi"].startswith("3.")


def test_vendor_route_serves_nothing_outside_the_swagger_ui_package(client):
    for url in ("/vendor/swagger-ui/../../wsgi.py", "/vendor/swagger-ui/%2e%2e/%2e%2e/wsgi.py",
                "/vendor/swagger-ui/no-such-file.js"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
