"""schemathesis against both OpenAPI documents, on PostgreSQL, through the in-process
WSGI app (Flask's test client): every operation, with generated valid and invalid
input, must answer without a server error, with a documented status, content type
and headers, and a body that matches its documented schema.

The database is a throwaway one with real objects (the scene: consultant A's
registration, visit, attachment, invite link, handoff, client card, notification
and deal in developer DA's project). Callers are real: an operating consultant for
the mini-program, buyer X for the buyer endpoints, and for the admin API each of
admin, finance and site staff (of DA) on the operations that declare the role. Path
ids and id fields of bodies and query strings name the scene's objects in three
examples out of four and are generated in the rest, so both the handlers and their
"not found" answers are exercised. Operations run in document order on one scene per
test; sign-outs (``…/revoke``) run last.

Bounded and reproducible: a fixed number of examples per operation and generation
mode, derandomized, no shrinking, no example database.
"""
from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from . import openapi_helpers as oa
from .api_scene import Scene, documents_and_roles, rightful_caller

pytestmark = pytest.mark.postgres

SPECS, ADMIN_ROLES = documents_and_roles()
EXAMPLES_PER_MODE = 10
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# The staff roles the admin document is run as, each on the operations that declare it.
ADMIN_CALLERS = ("admin", "finance", "site_staff")
# Id fields of bodies and query strings that name a scene object (besides the path parameters).
ID_FIELDS = ("project_id", "consultant_id", "to_consultant_id", "developer_id", "deal_id", "registration_id",
             "visit_id")
# Anonymous calls (fuzzed sign-ins among them) come from another address than the signed-in
# callers', so that the sign-in throttle they provoke never locks the scene's staff out.
ADDRESSES = {False: "127.0.0.1", True: "10.88.0.1"}
CONFIG = schemathesis.Config.from_dict({
    # Tokens are ours (the authorisation matrix tests their absence); no example database.
    "generation": {"database": "none", "with-security-parameters": False},
})


def operations(prefix: str) -> list[oa.Operation]:
    """Document order, except that signing out comes last (it ends the caller's tokens)."""
    ops = oa.operations(SPECS[prefix], prefix)
    return sorted(ops, key=lambda op: op.path.endswith("/revoke"))


def caller_of(op: oa.Operation, staff_role: str | None = None) -> str:
    if not op.requires_bearer:
        return "nobody"
    if op.prefix == oa.MP:
        return rightful_caller(op)
    return staff_role


def credentials(scene: Scene, caller: str) -> dict:
    if caller == "nobody":
        return {}
    if caller == "owner":
        return scene.owner.auth
    if caller == "colleague":
        return scene.colleague.auth
    if caller == "buyer":
        return scene.buyer
    return scene.role(caller).headers


def real_ids(scene: Scene, op: oa.Operation) -> dict[str, dict[str, object]]:
    """The scene's objects for the operation's path, query and body id fields."""
    found: dict[str, dict[str, object]] = {"path": {}, "query": {}, "body": {}}
    for param in op.path_parameters:
        if "enum" not in param.get("schema", {}):
            found["path"][param["name"]] = scene.value(param["name"], op.prefix)
    names = [("query", p["name"]) for p in op.query_parameters]
    body = op.op.get("requestBody") and oa.resolve(op.spec, op.op["requestBody"]).get("content", {})
    if body and "application/json" in body:
        names += [("body", name) for name in op.body_schema.get("properties", {})]
    for where, name in names:
        if name == "to_consultant_id":
            found[where][name] = scene.colleague.id
        elif name in ID_FIELDS:
            found[where][name] = scene.value(name, op.prefix)
    return found


def use_real_values(case, ids: dict[str, dict[str, object]], draw, phones) -> None:
    """Three valid examples in four name the scene's objects instead of generated ids, and
    carry a real mobile number where a phone is asked for, so that they get past "not found"
    and the phone check into the handlers."""
    for name, value in ids["path"].items():
        if draw(st.integers(0, 3)):
            case.path_parameters[name] = value
    for where, container in (("query", case.query), ("body", case.body)):
        if isinstance(container, dict):
            for name, value in ids[where].items():
                if name in container and draw(st.integers(0, 3)):
                    container[name] = value
            for name in container:
                if "phone" in name and isinstance(container[name], str) and draw(st.integers(0, 3)):
                    container[name] = next(phones)


def status_documented_explicitly(ctx, response, case) -> None:
    """Stricter than ``status_code_conformance``, which accepts any status when the operation
    has a ``default`` response (flask-smorest documents one everywhere): the status itself is listed."""
    documented = set(case.operation.responses.status_codes) - {"default"}
    if str(response.status_code) not in documented:
        raise UndefinedStatusCode(operation=case.operation.label, status_code=response.status_code,
                                  defined_status_codes=sorted(documented),
                                  allowed_status_codes=sorted(int(s) for s in documented if s.isdigit()),
                                  message=f"Received: {response.status_code}\nDocumented: {', '.join(sorted(documented))}")


# All of schemathesis' response checks, and the stricter status check above.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, status_documented_explicitly]


def summary(exc: BaseException) -> tuple[str, str]:
    """What failed (the checks' titles and the status) and the curl command that reproduces it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    what = " ".join(line for line in lines if line.startswith(("- ", "[")))
    how = next((line for line in lines if line.startswith("curl ")), "")
    return (what or f"{type(exc).__name__}: {' '.join(lines[:3])}")[:300], how[:800]


class Run:
    """schemathesis over one document as one caller; failures and statuses per operation."""

    def __init__(self, app, client, scene: Scene, prefix: str):
        self.client, self.scene, self.prefix = client, scene, prefix
        self.schema = schemathesis.openapi.from_wsgi(f"{prefix}/{oa.SPEC_FILE}", app, config=CONFIG)
        self.failures: dict[str, str] = {}
        self.statuses: dict[str, Counter] = {}

    def operation(self, op: oa.Operation, caller: str) -> None:
        operation = self.schema.find_operation_by_path(op.method, op.path)
        assert operation is not None, f"{op} is not in the document schemathesis read"
        ids = real_ids(self.scene, op)
        label = f"{op} as {caller}"
        statuses = self.statuses[label] = Counter()

        for mode in MODES:
            @settings(max_examples=EXAMPLES_PER_MODE, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def run(case, data):
                if mode is GenerationMode.POSITIVE:  # an invalid example stays as invalid as it was made
                    use_real_values(case, ids, data.draw, self.scene.phones)
                try:
                    response = case.call(session=self.client, headers=credentials(self.scene, caller),
                                         environ_base={"REMOTE_ADDR": ADDRESSES[caller == "nobody"]})
                    statuses[(mode.value, response.status_code)] += 1
                    case.validate_response(response, checks=CHECKS)
                except BaseException as exc:  # noqa: B036 - schemathesis reports failures as exception groups
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    what, how = summary(exc)
                    self.failures.setdefault(f"{label} ({mode.value}): {what}", how)

            try:
                run()
            except Unsatisfiable:
                # Nothing to send is invalid when an operation takes no input at all.
                assert mode is GenerationMode.NEGATIVE and not (op.parameters or op.op.get("requestBody")), \
                    f"{label}: schemathesis could not generate {mode.value} examples"
        if caller != "nobody" and statuses[("positive", 401)] and not op.path.endswith("/revoke"):
            self.scene.sign_in_again()  # something this operation did signed the caller out

    def assert_conforms(self) -> None:
        unexercised = [label for label, counts in self.statuses.items()
                       if not sum(n for (mode, status), n in counts.items() if mode == "positive" and status != 401)
                       and not label.endswith(" as nobody") and not label.split(" as ")[0].endswith("/revoke")]
        problems = [f"- {what}\n    {how}" for what, how in self.failures.items()]
        problems += [f"- {label}: never got past authentication, so it was not tested" for label in unexercised]
        assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)


@pytest.fixture
def scene(world) -> Scene:
    scene = Scene(world)
    scene.make_all()
    return scene


def test_the_runs_cover_every_operation_of_both_documents():
    covered = {str(op) for op in operations(oa.MP)}
    for role in ADMIN_CALLERS:
        covered |= {str(op) for op in operations(oa.ADMIN) if not op.requires_bearer or role in ADMIN_ROLES[str(op)]}
    documented = {str(op) for prefix in oa.PREFIXES for op in oa.operations(SPECS[prefix], prefix)}
    assert covered == documented, documented - covered
    assert all("admin" in roles for roles in ADMIN_ROLES.values()), "an admin operation admins may not call"


def test_the_mini_program_api_conforms_to_its_document(app, client, scene):
    run = Run(app, client, scene, oa.MP)
    for op in operations(oa.MP):
        run.operation(op, caller_of(op))
    run.assert_conforms()


@pytest.mark.parametrize("role", ADMIN_CALLERS)
def test_the_admin_api_conforms_to_its_document(app, client, scene, role):
    run = Run(app, client, scene, oa.ADMIN)
    for op in operations(oa.ADMIN):
        if not op.requires_bearer or role in ADMIN_ROLES[str(op)]:
            run.operation(op, caller_of(op, role))
    run.assert_conforms()


# --- what schemathesis found, pinned ---------------------------------------------------------------------

def test_the_attachment_upload_documents_its_multipart_body(client):
    """Undocumented, the upload could not be generated: schemathesis sent it no file at all."""
    op = oa.find_operation(oa.load_spec(client, oa.MP), oa.MP, f"{oa.MP}/visits/{{visit_id}}/attachments", "post")
    body = oa.resolve(op.spec, op.op["requestBody"])
    schema = body["content"]["multipart/form-data"]["schema"]
    assert body["required"] and schema["required"] == ["file"]
    assert schema["properties"]["file"]["format"] == "binary"


def test_a_visit_day_the_platform_cannot_have_is_422_not_a_server_error(world, client):
    """``?date=0001-01-01`` began in year 0 in UTC: a 500 until the day was bounded."""
    headers = world.staff_auth("admin")
    for day in ("0001-01-01", "9999-12-31"):
        response = client.get(f"{oa.ADMIN}/visits", query_string={"date": day}, headers=headers)
        error = oa.assert_error_envelope(response, 422, "validation_error", f"GET {oa.ADMIN}/visits?date={day}")
        assert set(oa.field_errors(error)) == {"date"}
    assert client.get(f"{oa.ADMIN}/visits", query_string={"date": "2026-05-01"}, headers=headers).status_code == 200
