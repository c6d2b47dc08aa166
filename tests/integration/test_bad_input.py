"""Bad input on every JSON endpoint → 400/422 in the error envelope, and nothing
in the database changes.

The endpoints are read from both OpenAPI documents (/api/mp/v1 and
/admin/api/v1): every operation with a JSON body and every operation with query
parameters is attacked, with valid authentication for it and real objects in its
path, so that only the input can be the reason for the refusal. A new endpoint is
covered as soon as it is documented.
"""
from __future__ import annotations

from functools import cached_property

import pytest

from tests.conftest import now, timedelta

from . import openapi_helpers as oa

SNAPSHOT = oa.spec_snapshot()
ALL_OPERATIONS = [op for prefix, spec in SNAPSHOT.items() for op in oa.operations(spec, prefix)]
# JSON bodies (the attachment upload is multipart; test_visits attacks it).
BODY_TARGETS = oa.targets([op for op in ALL_OPERATIONS
                           if "application/json" in oa.resolve(op.spec, op.op.get("requestBody", {})).get("content", {})])
REQUIRED_TARGETS = [t for t in BODY_TARGETS if t.operation.body_schema.get("required")]
QUERY_TARGETS = oa.targets([op for op in ALL_OPERATIONS if op.query_parameters])
UNKNOWN_FIELD = "unexpected_field"


# Path objects of later issues, made the way the authorisation matrix makes them: bad input is
# refused by the request guard or the schema before any object is looked up, so whose they are
# does not change the answer.
SCENE_OBJECTS = ("buyer_id", "erasure_request_id", "account_id", "buyer_account_id", "batch_id", "item_id", "customer_id",
                 "export_job_id")


class Caller:
    """Valid credentials and real path objects for any documented operation, made on demand."""

    def __init__(self, world):
        self.world = world

    @cached_property
    def consultant(self):
        """An active consultant who signed the current agreement: passes every consultant guard."""
        return self.world.operating_consultant()

    @cached_property
    def pending_consultant(self):
        return self.world.apply(name="待审顾问")

    @cached_property
    def client_card_id(self) -> int:
        """A card in the consultant's client book: registering a buyer makes one."""
        self.world.register(self.consultant, self.world.project())
        page = self.world.client.get("/api/mp/v1/clients", headers=self.consultant.auth).get_json()
        return page["items"][0]["id"]

    @cached_property
    def handoff_id(self) -> int:
        """A handoff offered to the consultant by a colleague."""
        colleague = self.world.operating_consultant(name="转介同事")
        response = self.world.client.post("/api/mp/v1/handoffs", headers=colleague.auth, json={
            "project_id": self.world.project(), "buyer_name": "转介客户", "buyer_phone": self.world.next_buyer_phone(),
            "to_consultant_id": self.consultant.id})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def registration_id(self) -> int:
        """One of the consultant's own open registrations."""
        return self.world.register(self.consultant, self.world.project())["id"]

    @cached_property
    def visit_id(self) -> int:
        """A scheduled visit of that registration."""
        response = self.world.client.post(f"/api/mp/v1/registrations/{self.registration_id}/visits",
                                          json={"scheduled_at": (now() + timedelta(days=1)).isoformat()},
                                          headers=self.consultant.auth)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def project_id(self) -> int:
        """A project on sale."""
        return self.world.project()

    @cached_property
    def developer_id(self) -> int:
        response = self.world.client.post("/admin/api/v1/developers", json={"name": "坏输入测试开发商"},
                                          headers=self.world.staff_auth("admin"))
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def collection_id(self) -> int:
        """A developer's payment recorded by finance (回款, issue 12)."""
        response = self.world.client.post("/admin/api/v1/collections", headers=self.world.staff_auth("finance"), json={
            "developer_id": self.developer_id, "amount_cents": 100_000, "bank_reference": "BAD-INPUT-1",
            "received_on": now().date().isoformat()})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def buyback_request_id(self) -> int:
        """A consultant's buy-back request awaiting finance (佣金垫付, issue 13)."""
        from tests.integration.test_buyback import quote, request, signed_line
        sold = signed_line(self.world)
        return request(self.world, sold, quote(self.world, sold)["id"])["id"]

    @cached_property
    def buyback_package_id(self) -> int:
        """A collection package (打包) holding a bought line."""
        from tests.integration.test_buyback import approve, quote, request, set_settings, signed_line
        sold = signed_line(self.world)
        set_settings(self.world, second_approver_cents=10 ** 12)
        approve(self.world, request(self.world, sold, quote(self.world, sold)["id"])["id"],
                self.world.staff_auth("finance"))
        response = self.world.client.post("/admin/api/v1/buyback/packages", headers=self.world.staff_auth("finance"),
                                          json={"developer_id": sold.developer_id})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def deal_id(self) -> int:
        """A deal (subscription) of a buyer the consultant registered, with a rule and a policy."""
        project = self.world.project()
        self.world.commission_rule(project)
        self.world.split_policy()
        phone = self.world.register(self.consultant, project)["buyer_phone"]
        return self.world.deal(project, phone)["id"]

    @cached_property
    def revisit_id(self) -> int:
        """A revisit call about the deal (the scheduler sampled it)."""
        from sqlalchemy import select

        from estate_platform.db import db
        from estate_platform.revisits import rules, services as revisits
        from estate_platform.revisits.models import Revisit
        deal_id = self.deal_id
        with self.world.app.app_context():
            revisits.schedule(db.session, now=now(), settings=rules.Settings(deal_sample_bps=10_000), sample_key=b"bad")
            revisit_id = db.session.scalar(select(Revisit.id).where(Revisit.kind == "deal_sample",
                                                                    Revisit.subject_id == deal_id))
            db.session.commit()
            return revisit_id

    @cached_property
    def upload_id(self) -> int:
        """A reconciled sales list (销售台账) of a project."""
        from io import BytesIO
        content = f"客户姓名,联系电话,成交总价（元）,签约日期\n周先生,13912345678,3000000,{now().date().isoformat()}\n"
        response = self.world.client.post("/admin/api/v1/reconciliations", headers=self.world.staff_auth("admin"),
                                          content_type="multipart/form-data", data={
                                              "project_id": str(self.project_id), "period_from": "2026-01-01",
                                              "period_to": now().date().isoformat(),
                                              "file": (BytesIO(content.encode()), "台账.csv")})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def deal_request_id(self) -> int:
        """Site staff of the deal's developer asked to cancel it: a request platform staff decide
        and the consultant may object to (maker-checker)."""
        from estate_platform.db import db
        from estate_platform.deals.models import Deal
        from estate_platform.identity.models import StaffUser
        from estate_platform.projects.models import Project
        staff_id, username, password = self.world.staff("site_staff")
        with self.world.app.app_context():
            deal = db.session.get(Deal, self.deal_id)
            db.session.get(StaffUser, staff_id).developer_id = db.session.get(Project, deal.project_id).developer_id
            db.session.commit()
        client = self.world.client
        token = client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
        assert token.status_code == 200, token.get_json()
        response = client.post(f"/admin/api/v1/deals/{self.deal_id}/cancel", json={"reason": "客户退房"},
                               headers={"Authorization": f"Bearer {token.get_json()['token']}"})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def dispute_id(self) -> int:
        """The consultant's complaint that the developer sold his registered buyer directly (跑单)."""
        response = self.world.client.post("/api/mp/v1/disputes", headers=self.consultant.auth, json={
            "registration_id": self.registration_id, "against": "developer", "subject": "开发商跑单",
            "summary": "客户已在案场直接认购"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def risk_flag_id(self) -> int:
        """An open risk flag about one of the consultant's registrations (as the nightly job raises it)."""
        from estate_platform.db import db
        from estate_platform.registrations.models import Registration
        from estate_platform.risk.models import RiskFlag
        with self.world.app.app_context():
            registration = db.session.get(Registration, self.registration_id)
            flag = RiskFlag(kind="anti_interception", subject_key=f"bad-input:{registration.id}",
                            project_id=registration.project_id, consultant_id=registration.consultant_id,
                            buyer_id=registration.buyer_id, registration_id=registration.id, score=90,
                            reason_zh="登记后 2 分钟即确认到访（阈值 10 分钟）", evidence={}, occurred_at=now(),
                            status="open", created_at=now(), updated_at=now())
            db.session.add(flag)
            db.session.commit()
            return flag.id

    @cached_property
    def staff_id(self) -> int:
        """A staff member other than the calling admin (who may not change himself)."""
        return self.world.staff("finance")[0]

    @cached_property
    def buyer_auth(self) -> dict:
        """A buyer signed in with an SMS code (the H5 pages' caller)."""
        phone = self.world.next_buyer_phone()
        client = self.world.client
        assert client.post("/api/mp/v1/auth/sms/send", json={"phone": phone}).status_code == 200
        code = self.world.app.extensions["adapters"].sms.last_code("+86" + phone)
        token = client.post("/api/mp/v1/auth/sms/verify", json={"phone": phone, "code": code}).get_json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def headers(self, op: oa.Operation) -> dict:
        if not op.requires_bearer:
            return {}
        if op.prefix == oa.MP and op.path.startswith(f"{oa.MP}/buyer/"):
            return self.buyer_auth
        if op.prefix == oa.MP:
            return self.consultant.auth
        return self.world.staff_auth("admin")  # role admin is allowed on every admin JSON endpoint

    @cached_property
    def scene(self):
        from tests.integration.api_scene import Scene
        return Scene(self.world)

    def path_value(self, op: oa.Operation, name: str):
        if name == "dispute_id":
            return self.dispute_id
        if name == "deal_request_id":
            return self.deal_request_id
        if name == "consultant_id":
            return self.consultant.id if op.prefix == oa.MP else self.pending_consultant.id
        if name in ("registration_id", "visit_id"):
            return getattr(self, name)
        if name == "client_id":
            return self.client_card_id
        if name == "handoff_id":
            return self.handoff_id
        if name in ("project_id", "developer_id", "deal_id", "staff_id", "risk_flag_id"):
            return getattr(self, name)
        if name == "revisit_id":
            return self.revisit_id
        if name == "upload_id":
            return self.upload_id
        if name == "collection_id":
            return self.collection_id
        if name in ("buyback_request_id", "buyback_package_id"):
            return getattr(self, name)
        if name in SCENE_OBJECTS:  # made by the authorisation matrix's scene, on the same world
            return getattr(self.scene, name)
        raise AssertionError(f"{op}: no real object known for path parameter {name!r}: "
                             f"add one to Caller.path_value in {__file__}")

    def url(self, target: oa.Target) -> str:
        values = dict(target.fixed)
        for param in target.operation.path_parameters:
            if param["name"] not in values:
                values[param["name"]] = self.path_value(target.operation, param["name"])
        return oa.fill_path(target.operation.path, values)


@pytest.fixture
def caller(world) -> Caller:
    return Caller(world)


def live(client, target: oa.Target) -> oa.Target:
    """The same endpoint, read from the document the running app serves."""
    op = target.operation
    spec = oa.load_spec(client, op.prefix)
    return oa.Target(oa.find_operation(spec, op.prefix, op.path, op.method), target.fixed)


class Attack:
    """Prepares an endpoint (credentials, path objects), snapshots the row counts, sends bad requests."""

    def __init__(self, client, caller, counts, target):
        self.client, self.counts = client, counts
        self.target = live(client, target)
        self.op = self.target.operation
        self.url = caller.url(self.target)
        self.headers = caller.headers(self.op)
        self.before = counts()

    def send(self, *, query: dict | None = None, **kwargs):
        return self.client.open(self.url, method=self.op.method.upper(), headers=self.headers,
                                query_string=query, **kwargs)

    def assert_nothing_changed(self):
        after = self.counts()
        changed = {table: (count, after[table]) for table, count in self.before.items() if count != after[table]}
        assert not changed, f"{self.target}: bad input changed row counts (table: before, after): {changed}"


@pytest.fixture
def attack(client, caller, counts):
    return lambda target: Attack(client, caller, counts, target)


def test_every_documented_endpoint_with_input_is_enumerated():
    """Guard against an enumeration that silently covers nothing."""
    body = {str(t) for t in BODY_TARGETS}
    query = {str(t) for t in QUERY_TARGETS}
    for expected in ("POST /api/mp/v1/auth/wechat", "POST /api/mp/v1/consultants",
                     "PUT /api/mp/v1/consultants/me/inviter", "POST /api/mp/v1/agreement/sign",
                     "POST /admin/api/v1/auth/login",
                     "POST /admin/api/v1/agreements",
                     *(f"POST /admin/api/v1/consultants/{{consultant_id}}/{action}"
                       for action in ("approve", "reject", "suspend", "reinstate", "terminate"))):
        assert expected in body, f"{expected} not enumerated from the OpenAPI documents: {sorted(body)}"
    assert "GET /admin/api/v1/consultants" in query
    for op in ALL_OPERATIONS:
        assert op.op.get("requestBody") is None or op.method in ("post", "put", "patch"), f"{op} has a body"


# --- (a) malformed JSON -------------------------------------------------------------------------

@pytest.mark.parametrize("target", BODY_TARGETS, ids=str)
def test_malformed_json_is_400(attack, target):
    a = attack(target)
    for data in ("{not json", '{"a": 1', "\x00\xff", '{"a": 1}}', "{'a': 1}"):
        response = a.send(data=data, content_type="application/json")
        oa.assert_error_envelope(response, 400, "malformed_json", f"{a.target} with body {data!r}")
    a.assert_nothing_changed()


# --- (b) an array instead of an object ---------------------------------------------------------

@pytest.mark.parametrize("target", BODY_TARGETS, ids=str)
def test_json_array_or_other_non_object_is_422(attack, target):
    a = attack(target)
    valid = oa.valid_body(a.op.body_schema, str(a.target))
    for body in ([], [valid], "a string", 42, None):
        response = a.send(json=body) if body is not None else a.send(data="null", content_type="application/json")
        error = oa.assert_error_envelope(response, 422, "validation_error", f"{a.target} with body {body!r}")
        oa.field_errors(error, f"{a.target} with body {body!r}")
    a.assert_nothing_changed()


# --- (c) wrong types and values, one property at a time ----------------------------------------

@pytest.mark.parametrize("target", BODY_TARGETS, ids=str)
def test_each_property_with_a_wrong_type_is_422_naming_it(attack, target):
    a = attack(target)
    schema = a.op.body_schema
    properties = schema.get("properties", {})
    assert properties, f"{a.target}: documented body has no properties"
    base = oa.valid_body(schema, str(a.target))
    failures = []
    for name, prop in properties.items():
        for label, value in oa.wrong_values(prop, f"{a.target} {name}"):
            body = {**base, name: value}
            response = a.send(json=body)
            where = f"{a.target} {name}={value!r} ({label})"
            try:
                error = oa.assert_error_envelope(response, 422, "validation_error", where)
                fields = oa.field_errors(error, where)
                assert set(fields) == {name}, f"{where}: details.fields should name exactly {name!r}: {fields}"
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)
    a.assert_nothing_changed()


# --- (d) an unknown field ------------------------------------------------------------------------

@pytest.mark.parametrize("target", BODY_TARGETS, ids=str)
def test_unknown_field_in_body_is_422(attack, target):
    a = attack(target)
    body = {**oa.valid_body(a.op.body_schema, str(a.target)), UNKNOWN_FIELD: "x"}
    response = a.send(json=body)
    error = oa.assert_error_envelope(response, 422, "validation_error", str(a.target))
    fields = oa.field_errors(error, str(a.target))
    assert set(fields) == {UNKNOWN_FIELD}, fields
    a.assert_nothing_changed()


# --- missing required fields ----------------------------------------------------------------------

@pytest.mark.parametrize("target", REQUIRED_TARGETS, ids=str)
def test_missing_required_fields_are_each_named_in_chinese(attack, target):
    a = attack(target)
    schema = a.op.body_schema
    required = set(schema["required"])
    error = oa.assert_error_envelope(a.send(json={}), 422, "validation_error", f"{a.target} with {{}}")
    fields = oa.field_errors(error, str(a.target))
    assert set(fields) == required, f"{a.target}: {{}} should name exactly the required fields {required}: {fields}"
    for name in required:
        assert fields[name] == ["必填字段"], (name, fields[name])
    # Each required field missing on its own, the others valid.
    base = oa.valid_body(schema, str(a.target))
    for name in sorted(required):
        body = {k: v for k, v in base.items() if k != name}
        error = oa.assert_error_envelope(a.send(json=body), 422, "validation_error", f"{a.target} without {name}")
        assert oa.field_errors(error, str(a.target)) == {name: ["必填字段"]}
    # No body at all (no Content-Type): the same refusal, not a 500 or a 415.
    error = oa.assert_error_envelope(a.send(), 422, "validation_error", f"{a.target} without a body")
    assert set(oa.field_errors(error, str(a.target))) == required
    a.assert_nothing_changed()


# --- query strings ----------------------------------------------------------------------------------

def required_query(a) -> dict:
    """Valid values of the operation's required query parameters, so an error names only the one under test."""
    return {p["name"]: oa.example_value(p["schema"], f"{a.target} ?{p['name']}")
            for p in a.op.query_parameters if p.get("required")}


@pytest.mark.parametrize("target", QUERY_TARGETS, ids=str)
def test_each_query_parameter_with_a_bad_value_is_422_naming_it(attack, target):
    a = attack(target)
    failures, tried = [], 0
    required = required_query(a)
    for param in a.op.query_parameters:
        name = param["name"]
        for label, value in oa.wrong_values(param["schema"], f"{a.target} ?{name}", query=True):
            tried += 1
            where = f"{a.target}?{name}={value!r} ({label})"
            try:
                error = oa.assert_error_envelope(a.send(query={**required, name: value}), 422, "validation_error",
                                                 where)
                fields = oa.field_errors(error, where)
                assert set(fields) == {name}, f"{where}: details.fields should name exactly {name!r}: {fields}"
            except AssertionError as exc:
                failures.append(str(exc))
    assert tried, f"{a.target}: no bad value could be made for any query parameter"
    assert not failures, "\n".join(failures)
    a.assert_nothing_changed()


@pytest.mark.parametrize("target", QUERY_TARGETS, ids=str)
def test_unknown_query_parameter_is_422(attack, target):
    a = attack(target)
    response = a.send(query={**required_query(a), UNKNOWN_FIELD: "x"})
    error = oa.assert_error_envelope(response, 422, "validation_error", f"{a.target}?{UNKNOWN_FIELD}=x")
    assert set(oa.field_errors(error, str(a.target))) == {UNKNOWN_FIELD}
    a.assert_nothing_changed()


# --- a form part without a name ------------------------------------------------------------------

UNNAMED_PART = b"--XX\r\nContent-Disposition: form-data\r\n\r\nhello\r\n--XX--\r\n"


@pytest.mark.parametrize("url", [f"{oa.MP}/auth/wechat", f"{oa.ADMIN}/auth/login", "/admin/login"])
def test_a_multipart_part_without_a_name_is_422_not_a_server_error(client, counts, url):
    """Found by schemathesis: werkzeug keys such a part ``None`` and the control-character guard crashed on it."""
    before = counts()
    response = client.post(url, data=UNNAMED_PART, content_type="multipart/form-data; boundary=XX")
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    if url.startswith((oa.MP, oa.ADMIN)):
        error = oa.assert_error_envelope(response, 422, "validation_error", f"POST {url}")
        assert oa.field_errors(error, url) == {"form": ["表单中有没有名称的字段"]}
    assert counts() == before


# --- routing errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [f"{oa.MP}/no-such-endpoint", f"{oa.MP}/consultants/not-a-number",
                                 f"{oa.MP}/agreement/sign/extra", f"{oa.ADMIN}/no-such-endpoint",
                                 f"{oa.ADMIN}/consultants/1/promote"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_url_is_json_404(client, counts, url, method):
    before = counts()
    response = client.open(url, method=method, json={"a": 1})
    oa.assert_error_envelope(response, 404, "not_found", f"{method} {url}")
    assert counts() == before


def test_wrong_method_is_json_405_on_every_route(app, client, counts):
    before = counts()
    tried = 0
    for prefix in oa.PREFIXES:
        for rule in oa.api_rules(app, prefix):
            allowed = oa.rule_methods(rule)
            # Several rules may share a URL (one per method): the URL's methods together.
            url = oa.example_rule_url(rule.rule)
            for other in oa.api_rules(app, prefix):
                if other.rule == rule.rule:
                    allowed |= oa.rule_methods(other)
            method = next(m for m in ("delete", "patch", "put", "post", "get") if m not in allowed)
            response = client.open(url, method=method.upper(), json={})
            error = oa.assert_error_envelope(response, 405, "method_not_allowed", f"{method.upper()} {url}")
            assert allowed <= {m.lower() for m in error["details"].get("allowed", [])}, error
            tried += 1
    assert tried >= 10, tried
    assert counts() == before


# --- unexpected failures -----------------------------------------------------------------------------

SECRET = "secret-internal-detail-42"


def test_unexpected_exception_in_the_admin_api_is_json_500(client, world, counts, monkeypatch):
    from estate_platform.consultants import services

    def explode(*args, **kwargs):
        raise RuntimeError(f"{SECRET}: SELECT password_hash FROM staff_users")

    headers = world.staff_auth("admin")
    monkeypatch.setattr(services, "list_consultants", explode)
    before = counts()
    response = client.get("/admin/api/v1/consultants", headers=headers)
    error = oa.assert_error_envelope(response, 500, "internal_error", "GET /admin/api/v1/consultants")
    assert error["details"] == {}
    assert SECRET not in response.get_data(as_text=True)
    assert counts() == before


def test_unexpected_exception_in_the_mini_program_api_is_json_500_and_rolls_back(client, world, counts, monkeypatch):
    from estate_platform.contracts import services
    from estate_platform.identity.models import StaffUser

    consultant = world.operating_consultant()

    def explode(session, *args, **kwargs):
        # Something written before the failure must not be committed.
        session.add(StaffUser(username="ghost", display_name="幽灵", role="admin", password_hash="x",
                              created_at=now()))
        session.flush()
        raise RuntimeError(SECRET)

    monkeypatch.setattr(services, "signatures_of", explode)
    before = counts()
    response = client.get("/api/mp/v1/agreement/signatures", headers=consultant.auth)
    oa.assert_error_envelope(response, 500, "internal_error", "GET /api/mp/v1/agreement/signatures")
    assert SECRET not in response.get_data(as_text=True)
    assert counts() == before


def test_database_error_is_json_500_without_sql(client, world, counts, monkeypatch):
    from sqlalchemy import text

    from estate_platform.contracts import services

    def bad_sql(session, *args, **kwargs):
        return session.execute(text(f"SELECT {SECRET.replace('-', '_')} FROM no_such_table WHERE id = 1")).all()

    headers = world.staff_auth("admin")
    monkeypatch.setattr(services, "list_agreements", bad_sql)
    before = counts()
    response = client.get("/admin/api/v1/agreements", headers=headers)
    oa.assert_error_envelope(response, 500, "internal_error", "GET /admin/api/v1/agreements")
    body = response.get_data(as_text=True)
    assert "no_such_table" not in body and SECRET.replace("-", "_") not in body
    # The session is usable again: the next request works.
    monkeypatch.undo()
    assert client.get("/admin/api/v1/agreements", headers=headers).status_code == 200
    assert counts() == before
