"""The registration's caller is checked inside its one SELECT (issue 16 §1), with the same
refusals in the same order as when he was read alone first: the token itself (signature, expiry,
kind) before any SQL; then a revoked token or unknown user 401, no consultant yet 404, inactive
or unsigned 403, each before the body's 422, the project's 404 and every business rule. And the
race the one INSERT statement can lose (a concurrent request created the buyer, or registered
him, between the SELECT and the INSERT) takes the step-by-step way to the same answers."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.crm.models import ClientCard
from estate_platform.db import db, utcnow
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import Buyer, WechatUser
from estate_platform.notifications.models import Notification
from estate_platform.registrations import path
from estate_platform.registrations.models import Registration
from estate_platform.risk.models import RegistrationAttempt
from estate_platform.security import TokenExpired, TokenInvalid, TokenRevoked, issue_token

URL = "/api/mp/v1/registrations"


def _revoked(world, app):
    consultant = world.operating_consultant()
    with app.app_context():
        db.session.execute(update(WechatUser).where(WechatUser.openid == consultant.openid)
                           .values(token_version=WechatUser.token_version + 1))
        db.session.commit()
    return consultant.auth


def _unknown_user(world, app):
    token, _ = issue_token(app.config["SECRET_KEY"], kind="wechat", subject_id=987_654, version=0, now=utcnow(),
                           ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


def _not_applied(world, app):
    token, _ = world.wechat_login()
    return {"Authorization": f"Bearer {token}"}


def _suspended(world, app):
    consultant = world.operating_consultant()
    response = world.client.post(f"/admin/api/v1/consultants/{consultant.id}/suspend", json={"reason": "核查中"},
                                 headers=world.staff_auth("operations"))
    assert response.status_code == 200, response.get_json()
    return consultant.auth


def _unsigned(world, app):
    consultant = world.operating_consultant()
    world.publish_agreement(text_="修订后的平台顾问合作协议：报备须真实，跑单须支付违约金。" * 2)
    return consultant.auth


def _expired(world, app):
    consultant = world.operating_consultant()
    with app.app_context():
        user_id = db.session.scalar(select(WechatUser.id).where(WechatUser.openid == consultant.openid))
    token, _ = issue_token(app.config["SECRET_KEY"], kind="wechat", subject_id=user_id, version=0,
                           now=utcnow() - timedelta(days=400), ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


def _buyer_token(world, app):
    token, _ = issue_token(app.config["SECRET_KEY"], kind="buyer", subject_id=1, version=0, now=utcnow(),
                           ttl_seconds=3600)
    return {"Authorization": f"Bearer {token}"}


CALLERS = {
    "revoked": (_revoked, TokenRevoked), "unknown_user": (_unknown_user, TokenRevoked),
    "not_applied": (_not_applied, NotYetApplied), "suspended": (_suspended, ConsultantInactive),
    "unsigned": (_unsigned, ContractUnsigned), "expired": (_expired, TokenExpired),
    "buyer_token": (_buyer_token, TokenInvalid),
}


def _bodies(project_id: int, phone: str) -> dict:
    return {
        "valid": {"project_id": project_id, "buyer_name": "周先生", "buyer_phone": phone},
        "schema_invalid": {"project_id": project_id, "buyer_phone": phone, "surprise": 1},  # webargs 422
        "bad_phone": {"project_id": project_id, "buyer_name": "周先生", "buyer_phone": "12345"},  # the service's 422
        "blank_name": {"project_id": project_id, "buyer_name": "  ", "buyer_phone": phone},
        "unknown_project": {"project_id": 999_999, "buyer_name": "周先生", "buyer_phone": phone},
    }


@pytest.mark.parametrize("body_kind", list(_bodies(1, "")))
@pytest.mark.parametrize("caller", list(CALLERS))
def test_a_caller_who_may_not_register_is_refused_first_whatever_the_body(world, app, caller, body_kind):
    make, error = CALLERS[caller]
    project = world.project()
    headers = make(world, app)
    before = _attempts(app)
    response = world.client.post(URL, json=_bodies(project, world.next_buyer_phone())[body_kind], headers=headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (error.status, error.code)
    assert _attempts(app) == before  # a guard's refusal is no registration attempt


@pytest.mark.parametrize("body_kind, status, code", [
    ("schema_invalid", 422, "validation_error"), ("bad_phone", 422, "validation_error"),
    ("blank_name", 422, "validation_error"), ("unknown_project", 404, "project_not_found")])
def test_an_operating_caller_gets_the_bodys_own_refusal(world, app, body_kind, status, code):
    consultant = world.operating_consultant()
    project = world.project()
    response = world.client.post(URL, json=_bodies(project, world.next_buyer_phone())[body_kind],
                                 headers=consultant.auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)


def _attempts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RegistrationAttempt))


def test_the_rows_of_the_one_statement_are_whole(world, app):
    """The buyer, the registration (with the id its SELECT took), the evidence record (its hash
    made with that id, the chain verifies), the client card and the notification."""
    consultant = world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone=phone, note="看过样板间")
    with app.app_context():
        registration = db.session.get(Registration, registered["id"])
        buyer = db.session.get(Buyer, registration.buyer_id)
        assert (registration.consultant_id, registration.project_id, registration.note) == (
            consultant.id, project, "看过样板间")
        assert buyer.evidence_key and buyer.token_version == 0 and buyer.phone.endswith(phone[-8:])
        chain = evidence.chain(db.session, "registration", registration.id)
        assert [record.event for record in chain] == ["registered"] and evidence.verify(chain) == (True, None)
        assert db.session.scalar(select(func.count()).select_from(ClientCard).where(
            ClientCard.consultant_id == consultant.id, ClientCard.buyer_id == buyer.id)) == 1
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.consultant_id == consultant.id, Notification.kind == "registration_accepted",
            Notification.payload.contains(f'"registration_id": {registration.id}'))) == 1
        db.session.rollback()


@pytest.fixture
def meanwhile(monkeypatch):
    """``meanwhile(action)``: ``action()`` runs (and commits, in a request of its own) right after
    the next registration's SELECT and before its INSERT: a concurrent request that came first."""
    pending = []
    real = path.situation_of_caller

    def situation_then_race(*args, **kwargs):
        found = real(*args, **kwargs)
        while pending:
            pending.pop(0)()
        return found

    monkeypatch.setattr(path, "situation_of_caller", situation_then_race)
    return pending.append


def test_a_buyer_created_by_a_concurrent_request_is_used(world, app, meanwhile):
    first, second = world.operating_consultant(), world.operating_consultant()
    project_a, project_b = world.project(), world.project()
    phone = world.next_buyer_phone()
    other = app.test_client()
    meanwhile(lambda: other.post(URL, headers=first.auth, json={
        "project_id": project_a, "buyer_name": "周先生", "buyer_phone": phone}))
    registered = world.register(second, project_b, phone=phone)
    with app.app_context():
        buyers = db.session.scalars(select(Buyer.id).where(Buyer.phone.endswith(phone[-8:]))).all()
        assert len(buyers) == 1
        rows = db.session.execute(select(Registration.id, Registration.buyer_id, Registration.consultant_id)
                                  .order_by(Registration.id)).all()
        assert {(r.buyer_id, r.consultant_id) for r in rows} == {(buyers[0], first.id), (buyers[0], second.id)}
        chain = evidence.chain(db.session, "registration", registered["id"])
        assert evidence.verify(chain) == (True, None) and len(chain) == 1
        db.session.rollback()


def test_a_buyer_registered_by_a_concurrent_request_is_refused_with_the_winners_protection_end(
        world, app, meanwhile):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    other = app.test_client()
    won = []
    meanwhile(lambda: won.append(other.post(URL, headers=first.auth, json={
        "project_id": project, "buyer_name": "周先生", "buyer_phone": phone}).get_json()))
    before = _attempts(app)
    refused = world.register(second, project, phone=phone, expect=409)
    assert refused["error"]["code"] == "already_registered"
    assert refused["error"]["details"]["protected_until"][:19] == won[0]["protected_until"][:19]
    assert _attempts(app) == before + 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
        db.session.rollback()


def test_a_known_buyer_registered_by_a_concurrent_request_is_refused(world, app, meanwhile):
    first, second, third = (world.operating_consultant() for _ in range(3))
    project_a, project_b = world.project(), world.project()
    phone = world.next_buyer_phone()
    world.register(third, project_a, phone=phone)  # the buyer is known
    other = app.test_client()
    meanwhile(lambda: other.post(URL, headers=first.auth, json={
        "project_id": project_b, "buyer_name": "周先生", "buyer_phone": phone}))
    refused = world.register(second, project_b, phone=phone, expect=409)
    assert refused["error"]["code"] == "already_registered" and refused["error"]["details"]["protected_until"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)
                                 .where(Registration.project_id == project_b)) == 1
        db.session.rollback()


def test_the_step_by_step_way_after_a_lost_race_writes_all_or_nothing(world, app, meanwhile, monkeypatch):
    """After a race lost on the buyer's index the registration is written step by step (on
    PostgreSQL from an autocommit connection: ``path.begin_steps`` opens a transaction first).
    A failure after the registration's INSERT leaves no registration without its evidence record."""
    first, second = world.operating_consultant(), world.operating_consultant()
    project_a, project_b = world.project(), world.project()
    phone = world.next_buyer_phone()
    other = app.test_client()

    def broken(self, connection, params):
        raise RuntimeError("the evidence store failed")

    def first_registers_then_the_store_fails():
        # In a thread of its own, as a concurrent request runs: its own app context and session.
        answered = []
        thread = threading.Thread(target=lambda: answered.append(other.post(URL, headers=first.auth, json={
            "project_id": project_a, "buyer_name": "周先生", "buyer_phone": phone}).status_code))
        thread.start()
        thread.join()
        assert answered == [201]
        monkeypatch.setattr(path._Statements, "write_trailing", broken)

    meanwhile(first_registers_then_the_store_fails)
    response = world.client.post(URL, headers=second.auth, json={
        "project_id": project_b, "buyer_name": "周先生", "buyer_phone": phone})
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    with app.app_context():
        assert db.session.scalars(select(Registration.consultant_id)).all() == [first.id]
        db.session.rollback()
    monkeypatch.undo()
    world.register(second, project_b, phone=phone)  # nothing was left to stand in its way
