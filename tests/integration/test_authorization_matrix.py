"""The authorisation matrix, read from the two OpenAPI documents and the URL map.

* Every operation whose path names an object (a registration, a visit, a deal …),
  called on a real object of consultant A (or of developer DA's site staff) by
  another operating consultant, a signed-in buyer, site staff of another developer
  and nobody (no token), is refused with 401, 403 or 404 and changes nothing; the
  rightful caller then gets through, so the refusals were about who asked.
* Every admin JSON operation refuses (403) each staff role it does not declare.
* Every operation that declares a bearer token refuses a call without one (401).
* Every admin page form (a POST under /admin/ outside the JSON API) is refused
  without its CSRF token, or with a forged one, and changes nothing.

An operation or form added later is in the tables as soon as it is documented or
routed; one that cannot be exercised (a path parameter the scene cannot fill, a
role that is not declared) fails the test instead of being skipped.
"""
from __future__ import annotations

from io import BytesIO

import pytest

from estate_platform.identity.models import STAFF_ROLES

from . import openapi_helpers as oa
from .api_scene import (PNG, RECEIVER_OPERATIONS, Scene, buyer_operation, changed_tables, csrf_from, database_digest,
                        rightful_caller, view_roles)

SNAPSHOT = oa.spec_snapshot()
OPERATIONS = [op for prefix, spec in SNAPSHOT.items() for op in oa.operations(spec, prefix)]
REFUSED = {401, 403, 404}

# Operations a caller reaches without a token, and why. Anything else must declare bearerAuth.
PUBLIC = {
    "POST /api/mp/v1/auth/wechat": "signs a consultant in: the WeChat code is the credential",
    "POST /api/mp/v1/auth/sms/send": "a buyer asks for a sign-in code",
    "POST /api/mp/v1/auth/sms/verify": "signs a buyer in: the SMS code is the credential",
    "POST /admin/api/v1/auth/login": "signs staff in: username and password are the credential",
}
# Objects that are not anybody's: every operating consultant may read them.
SHARED_WITH_EVERY_CONSULTANT = {
    "GET /api/mp/v1/projects/{project_id}": "the project catalogue is the same for every consultant",
}


def names_an_object(op: oa.Operation) -> bool:
    """A path parameter that is an id, not one of a fixed set of words like ``{action}``."""
    return any("enum" not in p.get("schema", {}) for p in op.path_parameters)


OBJECT_TARGETS = oa.targets([op for op in OPERATIONS if names_an_object(op)])
MP_OBJECT_TARGETS = [t for t in OBJECT_TARGETS if t.operation.prefix == oa.MP]
ADMIN_OBJECT_TARGETS = [t for t in OBJECT_TARGETS if t.operation.prefix == oa.ADMIN]
BEARER_TARGETS = oa.targets([op for op in OPERATIONS if op.requires_bearer])
ADMIN_TARGETS = [t for t in BEARER_TARGETS if t.operation.prefix == oa.ADMIN]


# --- how to call an operation -----------------------------------------------------------------------------

def request_kwargs(op: oa.Operation) -> dict:
    """A body the operation accepts (so that only the caller can be the reason for a refusal)."""
    body = op.op.get("requestBody")
    if body is None:
        return {}
    content = oa.resolve(op.spec, body).get("content", {})
    if "application/json" in content:
        return {"json": oa.valid_body(op.body_schema, str(op))}
    if "multipart/form-data" in content:
        return {"content_type": "multipart/form-data", "data": {"file": (BytesIO(PNG), "确认单.png", "image/png")}}
    raise AssertionError(f"{op}: no way to make a request body of {list(content)}: teach request_kwargs")


def call(client, scene: Scene, target: oa.Target, headers: dict):
    op = target.operation
    return client.open(scene.url(op, target.fixed), method=op.method.upper(), headers=headers, **request_kwargs(op))


def describe(response) -> str:
    body = response.get_json(silent=True)
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return f"{response.status_code} {code or response.mimetype}"


class Matrix:
    """Calls, compares the database before and after, and collects every failure."""

    def __init__(self, app, client, scene: Scene):
        self.app, self.client, self.scene = app, client, scene
        self.failures: list[str] = []
        self.tried = 0

    def refused(self, target: oa.Target, who: str, headers: dict, allowed=REFUSED, *, code: str | None = None):
        before = database_digest(self.app)
        response = call(self.client, self.scene, target, headers)
        self.tried += 1
        where = f"{target} as {who}"
        if response.status_code not in allowed:
            self.failures.append(f"{where}: expected one of {sorted(allowed)}, got {describe(response)}")
        elif code is not None and describe(response) != f"{response.status_code} {code}":
            self.failures.append(f"{where}: expected the code {code}, got {describe(response)}")
        elif response.status_code in REFUSED and not (response.get_json(silent=True) or {}).get("error"):
            self.failures.append(f"{where}: refused, but not in the error envelope: {describe(response)}")
        changed = changed_tables(before, database_digest(self.app))
        if changed:
            self.failures.append(f"{where}: the call changed {sorted(changed)}")
        return response

    def rightful(self, target: oa.Target, who: str, headers: dict):
        """The rightful caller gets past authentication and authorisation (any other outcome)."""
        response = call(self.client, self.scene, target, headers)
        if response.status_code in REFUSED:
            self.failures.append(f"{target} as {who} (rightful): refused with {describe(response)}, so the "
                                 f"refusals above prove nothing; fix the scene or RECEIVER_OPERATIONS")

    def assert_clean(self, at_least: int):
        assert self.tried >= at_least, f"only {self.tried} calls were made"
        assert not self.failures, f"{len(self.failures)} failures:\n" + "\n".join(self.failures)


@pytest.fixture
def scene(world) -> Scene:
    return Scene(world)


@pytest.fixture
def matrix(app, client, scene) -> Matrix:
    return Matrix(app, client, scene)


def rightful_last(targets):
    """Controls change things (a link is stopped, a visit cancelled): reads first, deletions last."""
    order = {"get": 0, "put": 1, "patch": 1, "post": 2, "delete": 3}
    return sorted(targets, key=lambda t: order[t.operation.method])


# --- the tables themselves -------------------------------------------------------------------------------

def test_the_tables_are_read_from_both_documents():
    """Guard against an enumeration that silently covers nothing, and against stale exceptions."""
    labels = {str(t) for t in OBJECT_TARGETS}
    for expected in ("GET /api/mp/v1/registrations/{registration_id}", "DELETE /api/mp/v1/visits/{visit_id}",
                     "GET /api/mp/v1/visits/{visit_id}/attachments/{attachment_id}",
                     "POST /api/mp/v1/buyer/visits/{visit_id}/confirm", "GET /api/mp/v1/deals/{deal_id}/commission",
                     "POST /admin/api/v1/deals/{deal_id}/cancel", "POST /admin/api/v1/consultants/{consultant_id}/approve"):
        assert expected in labels, f"{expected} not enumerated: {sorted(labels)}"
    assert len(MP_OBJECT_TARGETS) >= 25 and len(ADMIN_OBJECT_TARGETS) >= 15
    documented = {str(op) for op in OPERATIONS}
    for table in (PUBLIC, SHARED_WITH_EVERY_CONSULTANT, RECEIVER_OPERATIONS):
        assert set(table) <= documented, f"stale entries: {set(table) - documented}"
    for label in SHARED_WITH_EVERY_CONSULTANT:
        assert label in labels, f"{label} takes no object id: it does not belong in SHARED_WITH_EVERY_CONSULTANT"


def test_every_operation_without_a_bearer_token_is_listed_as_public_with_a_reason():
    public = {str(op) for op in OPERATIONS if not op.requires_bearer}
    assert public == set(PUBLIC), f"undeclared public operations: {public - set(PUBLIC)}; " \
                                  f"no longer public: {set(PUBLIC) - public}"


# --- objects: only their owner reaches them ----------------------------------------------------------------

def test_a_consultants_objects_are_refused_to_everyone_else(matrix, scene):
    scene.make_all()
    others = {"another consultant": scene.intruder.auth, "a buyer": scene.stranger_buyer,
              "site staff of another developer": scene.other_site.headers, "no token": {}}
    for target in MP_OBJECT_TARGETS:
        label = str(target.operation)
        for who, headers in others.items():
            shared = who == "another consultant" and label in SHARED_WITH_EVERY_CONSULTANT
            matrix.refused(target, who, headers, allowed={200} if shared else REFUSED)
        if buyer_operation(target.operation):
            matrix.refused(target, "consultant A (a consultant's token is no buyer's)", scene.owner.auth,
                           allowed={401})
        elif rightful_caller(target.operation) != "owner":
            matrix.refused(target, "consultant A (it is not his to do)", scene.owner.auth)
    rightful = {"buyer": ("buyer X", scene.buyer), "colleague": ("colleague C", scene.colleague.auth),
                "owner": ("consultant A", scene.owner.auth)}
    for target in rightful_last(MP_OBJECT_TARGETS):
        matrix.rightful(target, *rightful[rightful_caller(target.operation)])
    matrix.assert_clean(at_least=4 * len(MP_OBJECT_TARGETS))


def test_admin_objects_are_refused_to_consultants_buyers_other_developers_and_nobody(app, matrix, scene):
    scene.make_all()
    others = {"a consultant": scene.owner.auth, "a buyer": scene.buyer,
              "site staff of another developer": scene.other_site.headers, "no token": {}}
    for target in ADMIN_OBJECT_TARGETS:
        for who, headers in others.items():
            matrix.refused(target, who, headers)
    for target in rightful_last(ADMIN_OBJECT_TARGETS):
        roles = view_roles(app, target.operation)
        rightful = "site_staff" if "site_staff" in roles else roles[0]
        matrix.rightful(target, f"{rightful} (of developer DA)" if rightful == "site_staff" else rightful,
                        scene.role(rightful).headers)
    matrix.assert_clean(at_least=4 * len(ADMIN_OBJECT_TARGETS))


# --- roles ---------------------------------------------------------------------------------------------------

def test_every_admin_operation_refuses_the_roles_it_does_not_declare(app, matrix, scene):
    scene.make_all()
    refusals = 0
    for target in ADMIN_TARGETS:
        roles = view_roles(app, target.operation)
        for role in sorted(set(STAFF_ROLES) - set(roles)):
            matrix.refused(target, role, scene.role(role).headers, allowed={403}, code="role_forbidden")
            refusals += 1
    assert refusals >= 30, refusals
    matrix.assert_clean(at_least=refusals)


def test_every_operation_that_declares_a_token_refuses_a_call_without_one(matrix, scene):
    scene.make_all()
    for target in BEARER_TARGETS:
        matrix.refused(target, "nobody", {}, allowed={401}, code="token_missing")
        matrix.refused(target, "a forged token", {"Authorization": "Bearer forged.token.value"}, allowed={401})
    matrix.assert_clean(at_least=2 * len(BEARER_TARGETS))


# --- admin page forms: CSRF ----------------------------------------------------------------------------------

def admin_form_rules(app):
    """Every POST route of the admin pages (the JSON API has bearer tokens, not forms)."""
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/admin/") and not rule.rule.startswith(oa.ADMIN + "/")
                   and "POST" in rule.methods), key=lambda r: r.rule)


def page_login(client, staff) -> None:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"username": staff.username, "password": staff.password,
                                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def form_url(rule, scene: Scene) -> str:
    def value(match):
        converter, args, name = match.group(1), match.group(2), match.group(3)
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        return str(scene.value(name, oa.ADMIN))
    return oa.RULE_VARIABLE.sub(value, rule.rule)


def test_every_admin_form_is_refused_without_its_csrf_token(app, scene):
    scene.make_all()
    rules = admin_form_rules(app)
    assert len(rules) >= 15, [r.rule for r in rules]
    failures = []
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "allowed_roles", None)
        assert roles, f"POST {rule.rule}: its view declares no roles"
        role = "admin" if roles == ("public",) else ("site_staff" if "site_staff" in roles else roles[0])
        client = app.test_client()  # a session of its own for each form
        page_login(client, scene.role(role))
        url = form_url(rule, scene)
        for label, extra in (("without a CSRF token", {}), ("with a forged CSRF token", {"csrf_token": "forged"})):
            before = database_digest(app)
            response = client.post(url, data={"reason": "测试", "status": "sold_out", "name": "测试", **extra})
            where = f"POST {url} as {role} {label}"
            if response.status_code not in (400, 403):
                failures.append(f"{where}: expected 400 or 403, got {response.status_code}")
            elif "页面已过期" not in response.get_data(as_text=True):
                failures.append(f"{where}: refused, but not for the CSRF token: "
                                f"{response.get_data(as_text=True)[:200]}")
            changed = changed_tables(before, database_digest(app))
            if changed:
                failures.append(f"{where}: the call changed {sorted(changed)}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
