"""Hostile input found by an outside probe (issue: hold against hostile input), each
refused with a clear 4xx and no change, on every documented endpoint.

Integers beyond the database's range, control characters (NUL above all: PostgreSQL
refuses it and used to answer 500), lone surrogates, deeply nested JSON. The CI runs
this file on SQLite and again with the whole suite on PostgreSQL, where every one of
these was a 500.
"""
from __future__ import annotations

import json

import pytest

from . import openapi_helpers as oa
from .test_bad_input import ALL_OPERATIONS, BODY_TARGETS, QUERY_TARGETS, attack, caller  # noqa: F401 (fixtures)

INT32_MAX = 2 ** 31 - 1
INT64_MAX = 2 ** 63 - 1
PATH_ID_TARGETS = oa.targets([op for op in ALL_OPERATIONS
                              if any(p.get("schema", {}).get("type") == "integer" for p in op.path_parameters)])


def _properties(target: oa.Target, kind: str) -> list[str]:
    schema = target.operation.body_schema or {}
    return [name for name, prop in schema.get("properties", {}).items()
            if prop.get("type") == kind and not prop.get("readOnly")]


INTEGER_BODY_TARGETS = [t for t in BODY_TARGETS if _properties(t, "integer")]
STRING_BODY_TARGETS = [t for t in BODY_TARGETS if _properties(t, "string")]
INTEGER_QUERY_TARGETS = [t for t in QUERY_TARGETS
                         if any(p.get("schema", {}).get("type") == "integer" for p in t.operation.query_parameters)]
STRING_QUERY_TARGETS = [t for t in QUERY_TARGETS
                        if any(p.get("schema", {}).get("type") == "string" for p in t.operation.query_parameters)]
CONTROL_TEXTS = ["a\u0000b", "\u0000", "a\u001bb", "a\u007fb", "a\u0085b"]


def test_the_enumerations_cover_the_probed_endpoints():
    """The probe's own examples are among the attacked endpoints."""
    names = {str(t) for t in PATH_ID_TARGETS}
    assert "GET /api/mp/v1/registrations/{registration_id}" in names
    assert "GET /api/mp/v1/projects/{project_id}" in names
    assert "POST /api/mp/v1/registrations" in {str(t) for t in INTEGER_BODY_TARGETS}
    paged = [t for t in QUERY_TARGETS if any(p["name"] == "page" for p in t.operation.query_parameters)]
    assert len(paged) >= 14, [str(t) for t in paged]
    assert "POST /admin/api/v1/auth/login" in {str(t) for t in STRING_BODY_TARGETS}


# --- 1. integers out of range ------------------------------------------------------------------

@pytest.mark.parametrize("target", PATH_ID_TARGETS, ids=str)
def test_a_path_id_beyond_the_integer_range_is_404(client, caller, counts, target):
    op = oa.find_operation(oa.load_spec(client, target.operation.prefix), target.operation.prefix,
                           target.operation.path, target.operation.method)
    headers = caller.headers(op)
    before = counts()
    for value in (INT32_MAX + 1, 22210174586, 10 ** 20):
        values = dict(target.fixed)
        for param in op.path_parameters:
            if param.get("schema", {}).get("type") == "integer":
                values[param["name"]] = value
            else:
                assert param["name"] in values, f"{target}: path parameter {param['name']} is not enumerated"
        url = oa.fill_path(op.path, values)
        response = client.open(url, method=op.method.upper(), headers=headers,
                               json={} if op.op.get("requestBody") else None)
        oa.assert_error_envelope(response, 404, "not_found", f"{target} with id {value}")
    assert counts() == before


@pytest.mark.parametrize("target", INTEGER_BODY_TARGETS, ids=str)
def test_a_body_integer_beyond_its_column_is_422_naming_the_field(attack, target):
    a = attack(target)
    valid = oa.valid_body(a.op.body_schema, str(target))
    for name in _properties(target, "integer"):
        too_big = INT64_MAX + 1 if name.endswith("_cents") or a.op.body_schema["properties"][name].get(
            "format") == "int64" else INT32_MAX + 1
        for value in (too_big, -too_big - 1, 10 ** 30):
            response = a.send(json={**valid, name: value})
            error = oa.assert_error_envelope(response, 422, "validation_error", f"{target} {name}={value}")
            assert name in oa.field_errors(error, str(target)), error
    a.assert_nothing_changed()


def test_the_probed_registration_with_a_huge_project_id_is_422_naming_it(client, world):
    consultant = world.operating_consultant()
    response = client.post("/api/mp/v1/registrations", headers=consultant.auth, json={
        "project_id": 2147483648, "buyer_name": "张三", "buyer_phone": world.next_buyer_phone()})
    error = oa.assert_error_envelope(response, 422, "validation_error")
    assert list(error["details"]["fields"]) == ["project_id"]


@pytest.mark.parametrize("target", INTEGER_QUERY_TARGETS, ids=str)
def test_a_huge_query_integer_is_422_naming_it(attack, target):
    a = attack(target)
    for param in a.op.query_parameters:
        if param.get("schema", {}).get("type") != "integer":
            continue
        response = a.send(query={param["name"]: "10000000000000000000"})
        error = oa.assert_error_envelope(response, 422, "validation_error", f"{target} {param['name']}")
        assert param["name"] in oa.field_errors(error, str(target)), error
    a.assert_nothing_changed()


# --- 2. control characters ---------------------------------------------------------------------

@pytest.mark.parametrize("target", STRING_BODY_TARGETS, ids=str)
def test_a_control_character_in_any_body_text_is_422_naming_the_field(attack, target):
    a = attack(target)
    valid = oa.valid_body(a.op.body_schema, str(target))
    for name in _properties(target, "string"):
        for text in CONTROL_TEXTS:
            response = a.send(json={**valid, name: text})
            error = oa.assert_error_envelope(response, 422, "validation_error", f"{target} {name}={text!r}")
            assert name in oa.field_errors(error, str(target)), error
        # A lone surrogate can only be written as a JSON escape.
        raw = json.dumps({**valid, name: "PLACEHOLDER"}).replace("PLACEHOLDER", "a\\ud800b")
        response = a.send(data=raw, content_type="application/json")
        oa.assert_error_envelope(response, 422, "validation_error", f"{target} {name} with a lone surrogate")
    a.assert_nothing_changed()


@pytest.mark.parametrize("target", STRING_QUERY_TARGETS, ids=str)
def test_a_control_character_in_any_query_text_is_422_naming_it(attack, target):
    a = attack(target)
    for param in a.op.query_parameters:
        if param.get("schema", {}).get("type") != "string":
            continue
        response = a.send(query={param["name"]: "a\u0000b"})
        error = oa.assert_error_envelope(response, 422, "validation_error", f"{target} {param['name']}")
        assert param["name"] in oa.field_errors(error, str(target)), error
    a.assert_nothing_changed()


def test_nul_in_the_public_sign_ins_is_422(client, counts):
    before = counts()
    for url, body in (("/admin/api/v1/auth/login", {"username": "a\u0000b", "password": "whatever-password"}),
                      ("/api/mp/v1/auth/wechat", {"code": "dev:a\u0000b"}),
                      ("/api/mp/v1/auth/sms/send", {"phone": "139\u00001234"})):
        oa.assert_error_envelope(client.post(url, json=body), 422, "validation_error", url)
    assert counts() == before


def test_nul_in_a_path_a_query_or_a_form_is_refused_without_a_5xx(client, world, counts):
    consultant = world.operating_consultant()
    before = counts()
    response = client.get("/r/AB%00CD")
    assert response.status_code == 422
    response = client.post("/admin/login", data={"username": "adm\u0000in", "password": "x"})
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "控制字符" in response.get_data(as_text=True)
    for query in ("q=a%00b", "city=%00", "district=a%00"):
        response = client.get(f"/api/mp/v1/projects?{query}", headers=consultant.auth)
        oa.assert_error_envelope(response, 422, "validation_error", query)
    response = client.get("/api/mp/v1/clients?tag=a%00b", headers=consultant.auth)
    oa.assert_error_envelope(response, 422, "validation_error")
    response = client.get("/api/mp/v1/registrations/1%0a", headers=consultant.auth)
    oa.assert_error_envelope(response, 422, "validation_error")
    assert counts() == before


def test_single_line_fields_refuse_newlines_and_paragraph_fields_keep_them(client, world):
    consultant = world.operating_consultant()
    project = world.project()
    response = client.post("/api/mp/v1/registrations", headers=consultant.auth, json={
        "project_id": project, "buyer_name": "张\n三", "buyer_phone": world.next_buyer_phone()})
    error = oa.assert_error_envelope(response, 422, "validation_error")
    assert list(error["details"]["fields"]) == ["buyer_name"]
    response = client.post("/api/mp/v1/registrations", headers=consultant.auth, json={
        "project_id": project, "buyer_name": "张三", "buyer_phone": world.next_buyer_phone(),
        "note": "周末来看房\n\t预算 300 万"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["note"] == "周末来看房\n\t预算 300 万"


# --- 3. deep JSON -------------------------------------------------------------------------------

@pytest.mark.parametrize("target", BODY_TARGETS, ids=str)
def test_deeply_nested_json_is_400_malformed_json(attack, target):
    a = attack(target)
    for body in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000, "[" * 100_000):
        response = a.send(data=body, content_type="application/json")
        oa.assert_error_envelope(response, 400, "malformed_json", f"{target} nested {len(body)} bytes")
    a.assert_nothing_changed()


def test_json_numbers_that_are_not_numbers_are_malformed(client):
    for raw in ('{"code": NaN}', '{"code": Infinity}', '{"code": 1e400}'):
        response = client.post("/api/mp/v1/auth/wechat", data=raw, content_type="application/json")
        oa.assert_error_envelope(response, 400, "malformed_json", raw)


def test_brackets_inside_strings_do_not_count_as_nesting(client, world):
    consultant = world.operating_consultant()
    response = client.post("/api/mp/v1/registrations", headers=consultant.auth, json={
        "project_id": world.project(), "buyer_name": "张三", "buyer_phone": world.next_buyer_phone(),
        "note": "[" * 300 + '\\"{' * 50})
    assert response.status_code == 201, response.get_json()


def test_a_user_agent_with_control_characters_is_stored_without_them(client, world, session):
    """Headers are no schema fields: the agreement signature stores the agent cleaned."""
    from estate_platform.contracts.models import AgreementSignature
    consultant = world.apply()
    world.approve(consultant)
    world.publish_agreement()
    agreement = client.get("/api/mp/v1/agreement", headers=consultant.auth).get_json()
    response = client.post("/api/mp/v1/agreement/sign", json={"version": agreement["version"],
                                                              "sha256": agreement["sha256"]},
                           headers={**consultant.auth, "User-Agent": "Mozilla\x00/5.0\x1b (iPhone)"})
    assert response.status_code == 201, response.get_json()
    assert [s.user_agent for s in session.query(AgreementSignature).all()] == ["Mozilla/5.0 (iPhone)"]


@pytest.mark.parametrize("name,filename", [("fi\x00le", "list.csv"), ("file", "li\x00st.csv"), ("file", "a\u001bb.png")])
def test_a_control_character_in_an_uploads_part_or_file_name_is_422(client, world, counts, name, filename):
    """File names are stored (attachments, sales lists): PostgreSQL refuses NUL in text."""
    import io
    before = counts()
    response = client.post("/admin/api/v1/auth/login", content_type="multipart/form-data",
                           data={name: (io.BytesIO(b"a,b\n1,2\n"), filename)})
    error = oa.assert_error_envelope(response, 422, "validation_error", f"{name!r} {filename!r}")
    from estate_platform.logs import escape_controls
    assert list(oa.field_errors(error, filename)) == [escape_controls(name)], error
    assert counts() == before
