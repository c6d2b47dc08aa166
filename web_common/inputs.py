"""Hostile input, refused once for every endpoint (DESIGN §7.8).

Each rule lives here and nowhere else:

* integers: path ids through the ``int`` URL converter (out of range → no route, 404),
  body and query integers through the input schemas (out of range → 422 naming the
  field). Ids and counts are PostgreSQL ``integer`` (32 bits); amounts in cents are
  ``bigint`` (64 bits), so a field whose name ends in ``_cents`` (or that is documented
  as ``format: int64``) gets the wider range;
* control characters: no text anywhere in a request (path, query, form, JSON keys and
  values) may carry a C0/C1 control character other than tab, newline and carriage
  return, nor a lone surrogate (PostgreSQL refuses NUL, psycopg refuses surrogates);
  a path may not carry those three either.
  Single-line schema fields refuse tab and newline too; a field that is a paragraph
  (a note, a reason, an agreement's text) declares ``metadata={"multiline": True}``;
* JSON bodies: parsed here, once, strictly (valid UTF-8, no ``NaN``/``Infinity``, no
  number that overflows to infinity) and at most ``MAX_JSON_DEPTH`` levels deep, so a
  kilobyte of brackets cannot exhaust the interpreter's stack → 400 ``malformed_json``.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any, Iterator

from flask import Flask, g, request
from marshmallow import Schema, fields, validate
from werkzeug.routing import IntegerConverter

from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.logs import escape_controls

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_JSON_DEPTH = 32
CONTROL_MESSAGE = "不能包含控制字符"
NEWLINE_MESSAGE = "不能包含换行符或制表符"
UNNAMED_MESSAGE = "表单中有没有名称的字段"

# C0 and C1 controls except tab, newline and carriage return, and lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")


class MalformedJson(DomainError):
    code, status, message = "malformed_json", 400, "请求体不是有效的 JSON"


# --- text --------------------------------------------------------------------------------

def has_control_characters(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def strip_control_characters(text: str) -> str:
    return _LINE_BREAKS.sub(" ", _FORBIDDEN.sub("", text))


class SingleLine(validate.Validator):
    """Schema-level rule for one field: no control characters; tabs and newlines only
    where the field declares itself multi-line."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value):
        if isinstance(value, str):
            if has_control_characters(value):
                raise validate.ValidationError(CONTROL_MESSAGE)
            if not self.multiline and _LINE_BREAKS.search(value):
                raise validate.ValidationError(NEWLINE_MESSAGE)
        return value


# --- schema fields -----------------------------------------------------------------------

class _InputRange(validate.Range):
    """The storage range (kept apart from a field's own business range)."""


def integer_range(name: str, field: fields.Integer) -> validate.Range:
    """The range a request integer must fit: bigint for amounts in cents (and a field
    documented as ``format: int64``), PostgreSQL's integer otherwise."""
    if name.endswith("_cents") or field.metadata.get("format") == "int64":
        return _InputRange(min=INT64_MIN, max=INT64_MAX)
    return _InputRange(min=INT32_MIN, max=INT32_MAX)


def guard_field(name: str, field: fields.Field) -> None:
    """Attach the input rules to one field (and to the items of a list or dict)."""
    # Schema instances get shallow copies of the declared fields that share one validator
    # list: give this copy its own list instead of appending to the shared one.
    if isinstance(field, fields.Integer):
        field.validators = [*_unguarded(field.validators), integer_range(name, field)]
    elif isinstance(field, fields.String):
        field.validators = [*_unguarded(field.validators), SingleLine(bool(field.metadata.get("multiline")))]
    for inner in _inner_fields(field):
        guard_field(name, inner)


def _unguarded(validators: list) -> list:
    return [v for v in validators if not isinstance(v, (SingleLine, _InputRange))]


def _inner_fields(field: fields.Field) -> Iterator[fields.Field]:
    inner = getattr(field, "inner", None)
    if isinstance(inner, fields.Field):
        yield inner
    for attr in ("key_field", "value_field"):
        child = getattr(field, attr, None)
        if isinstance(child, fields.Field):
            yield child
    yield from (f for f in getattr(field, "tuple_fields", ()) if isinstance(f, fields.Field))


class GuardedSchema(Schema):
    """Base of every schema that reads a request (bodies and query strings)."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        guard_field(field_obj.data_key or field_name, field_obj)


def assert_guarded(schema: type[Schema] | Schema) -> None:
    """A request schema that skips the rules is a programming error, caught at start-up."""
    cls = schema if isinstance(schema, type) else type(schema)
    if not issubclass(cls, GuardedSchema):
        raise TypeError(f"{cls.__name__} reads a request but is not an InputSchema/QuerySchema")
    for field in cls._declared_fields.values():
        nested = getattr(field, "nested", None) or getattr(getattr(field, "inner", None), "nested", None)
        if isinstance(nested, (type, Schema)):
            assert_guarded(nested)


# --- URL converter -----------------------------------------------------------------------

class Int32Converter(IntegerConverter):
    """``<int:…>`` path ids fit PostgreSQL's integer: a larger one matches no route (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min if min is not None else 0,
                         max=max if max is not None else INT32_MAX, signed=signed)


def int32_param_schema(converter: Int32Converter) -> dict:
    return {"type": "integer", "minimum": converter.min, "maximum": converter.max}


# --- JSON bodies -------------------------------------------------------------------------

def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects, counted without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json_body(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        # Nesting can be no deeper than the number of openers: most bodies skip the scan.
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
            raise MalformedJson("请求体嵌套层级过深", details={"max_depth": MAX_JSON_DEPTH})
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedJson() from None


def control_character_fields(value: Any, path: str = "") -> dict[str, list[str]]:
    """Every place in a JSON document whose key or text carries a control character."""
    bad: dict[str, list[str]] = {}
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if has_control_characters(item):
                bad[where or "_body"] = [CONTROL_MESSAGE]
        elif isinstance(item, dict):
            for key, child in item.items():
                if has_control_characters(key):
                    bad[where or "_body"] = [CONTROL_MESSAGE]
                stack.append((f"{where}.{key}" if where else key, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return bad


# --- the request guard -------------------------------------------------------------------

def _text_fields(location: str, items) -> dict[str, list[str]]:
    bad = {}
    for key, value in items:
        if not isinstance(key, str):
            # A multipart part whose Content-Disposition has no (readable) name: werkzeug keys it None.
            bad[location] = [UNNAMED_MESSAGE]
        elif has_control_characters(key) or (isinstance(value, str) and has_control_characters(value)):
            bad[escape_controls(key) if location != "_path" else location] = [CONTROL_MESSAGE]
    return bad


def check_request() -> None:
    """Refuse control characters in the path, query, form and JSON body, and malformed or
    too-deep JSON, before any handler (or any query) runs."""
    bad: dict[str, list[str]] = {}
    if has_control_characters(request.path) or _LINE_BREAKS.search(request.path):
        bad["_path"] = [CONTROL_MESSAGE]
    bad.update(_text_fields("query", request.args.items(multi=True)))
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        bad.update(_text_fields("form", request.form.items(multi=True)))
        # An uploaded file's part name and file name are text that handlers store too.
        bad.update(_text_fields("form", ((key, upload.filename) for key, upload in request.files.items(multi=True))))
    if request.is_json:
        raw = request.get_data(cache=True)
        if raw:
            g.json_body = body = parse_json_body(raw)
            bad.update(control_character_fields(body))
    if bad:
        raise ValidationFailed(bad, message="提交的内容包含控制字符")


def install_request_guard(app: Flask) -> None:
    app.url_map.converters["int"] = Int32Converter
    app.before_request(check_request)
