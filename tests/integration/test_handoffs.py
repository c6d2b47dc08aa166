"""Handoffs (转介/二次分配, DESIGN §2, §3): a consultant hands a buyer to a colleague or
to the platform pool; the receiver accepts or declines within the SLA; the pool
routes by city, project, rating and load; acceptance registers the buyer for the
receiver with the sender as referrer."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from estate_platform.consultants.models import Consultant
from estate_platform.db import commit, db
from estate_platform.evidence import services as evidence
from estate_platform.handoffs import services as handoffs
from estate_platform.handoffs.models import Handoff, HandoffOffer
from estate_platform.handoffs.tasks import reroute_timed_out_task
from estate_platform.notifications.models import Notification
from estate_platform.projects.models import ExistingCustomer
from estate_platform.registrations.models import Registration
from tests.conftest import now
from tests.parallel import parallel

URL = "/api/mp/v1/handoffs"


def error(response) -> dict:
    return response.get_json()["error"]


def hand_off(world, sender, project_id, *, to=None, phone=None, name="李女士", expect=201, **extra):
    body = {"project_id": project_id, "buyer_name": name, "buyer_phone": phone or world.next_buyer_phone(), **extra}
    if to is not None:
        body["to_consultant_id"] = to.id
    response = world.client.post(URL, json=body, headers=sender.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def read(client, consultant, handoff_id) -> dict:
    response = client.get(f"{URL}/{handoff_id}", headers=consultant.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def act(client, consultant, handoff_id, action, **body):
    return client.post(f"{URL}/{handoff_id}/{action}", headers=consultant.auth, json=body or None)


def notifications(app, consultant, kind) -> list[Notification]:
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(Notification.consultant_id == consultant.id,
                                                                  Notification.kind == kind)))


def events(app, handoff_id) -> list[str]:
    with app.app_context():
        records = evidence.chain(db.session, "handoff", handoff_id)
        assert evidence.verify(records) == (True, None)
        return [record.event for record in records]


def set_consultant(app, consultant, **values) -> None:
    with app.app_context():
        db.session.execute(update(Consultant).where(Consultant.id == consultant.id).values(**values))
        db.session.commit()


def run_timeouts(app, at: datetime) -> int:
    """The timeout job's service, as the task runs it, at a chosen instant."""
    with app.app_context():
        moved = handoffs.reroute_timed_out(db.session, now=at)
        commit(db.session)
        return moved


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant)


# --- handing off to a named colleague ----------------------------------------------------------------

def test_a_named_colleague_is_offered_the_buyer_with_a_masked_phone_and_24_hours_to_answer(world, client, app):
    sender, receiver = world.operating_consultant(name="张伟"), world.operating_consultant(name="王芳")
    project_id = world.project(name="江岸府")
    sent = hand_off(world, sender, project_id, to=receiver, phone="13912345678", note="预算 500 万")

    assert sent["role"] == "sent" and sent["status"] == "offered" and not sent["via_pool"]
    assert sent["buyer_phone"] == "13912345678" and sent["phone_masked"] is False
    assert sent["receiver"] == {"id": receiver.id, "name": "王芳"}
    assert parse(sent["respond_by"]) - parse(sent["created_at"]) == timedelta(hours=24)

    seen = read(client, receiver, sent["id"])
    assert seen["role"] == "received" and seen["status"] == "offered" and seen["status_label"] == "待处理"
    assert seen["buyer_phone"] == "139****5678" and seen["phone_masked"] is True
    assert seen["sender"] == {"id": sender.id, "name": "张伟"} and seen["note"] == "预算 500 万"
    assert seen["registration_id"] is None

    [offered] = notifications(app, receiver, "handoff_offered")
    assert "139****5678" in offered.body and "13912345678" not in offered.body and "江岸府" in offered.body
    assert events(app, sent["id"]) == ["offered"]


def test_accepting_registers_the_buyer_for_the_receiver_with_the_sender_as_referrer(world, client, app):
    sender, receiver = world.operating_consultant(name="张伟"), world.operating_consultant(name="王芳")
    project_id = world.project()
    sent = hand_off(world, sender, project_id, to=receiver, phone="13912345678", name="李女士")

    response = act(client, receiver, sent["id"], "accept")
    assert response.status_code == 200, response.get_json()
    accepted = response.get_json()
    assert accepted["status"] == "accepted" and accepted["buyer_phone"] == "13912345678"
    assert accepted["phone_masked"] is False

    registration = client.get(f"/api/mp/v1/registrations/{accepted['registration_id']}", headers=receiver.auth)
    assert registration.status_code == 200
    assert registration.get_json()["referrer_consultant_id"] == sender.id
    assert registration.get_json()["buyer_name"] == "李女士" and registration.get_json()["project"]["id"] == project_id
    with app.app_context():
        assert db.session.get(Registration, accepted["registration_id"]).handoff_id == sent["id"]

    by_sender = read(client, sender, sent["id"])
    assert by_sender["status"] == "accepted" and by_sender["receiver"] == {"id": receiver.id, "name": "王芳"}
    assert by_sender["registration_id"] is None  # the registration is the receiver's
    [told] = notifications(app, sender, "handoff_accepted")
    assert "王芳" in told.body
    assert events(app, sent["id"]) == ["offered", "accepted"]
    # The buyer is now the receiver's: the sender cannot register him, nor hand him off again.
    world.register(sender, project_id, phone="13912345678", expect=409)
    again = hand_off(world, sender, project_id, phone="13912345678", expect=409)
    assert again["error"]["code"] == "buyer_bound_elsewhere"


def test_a_buyer_bound_to_another_consultant_cannot_be_handed_off_and_the_holder_is_not_named(
        world, client, counts):
    holder = world.operating_consultant(name="赵敏")
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    project_id = world.project()
    world.register(holder, project_id, phone="13987654321")
    before = counts()

    for to in (receiver, None):
        body = hand_off(world, sender, project_id, to=to, phone="13987654321", expect=409)
        assert body["error"]["code"] == "buyer_bound_elsewhere"
        assert set(body["error"]["details"]) == {"protected_until"}  # until when, never by whom
        assert "赵敏" not in str(body)
    assert counts() == before


def _register_own(world, sender, receiver, project_id, phone):
    world.register(sender, project_id, phone=phone)
    return {"to_consultant_id": receiver.id}


def _pending_consultant(world, sender, receiver, project_id, phone):
    return {"to_consultant_id": world.apply().id}


def _suspended_consultant(world, sender, receiver, project_id, phone):
    response = world.client.post(f"/admin/api/v1/consultants/{receiver.id}/suspend", json={"reason": "核查中"},
                                 headers=world.staff_auth("operations"))
    assert response.status_code == 200
    return {"to_consultant_id": receiver.id}


def _unknown_consultant(world, sender, receiver, project_id, phone):
    return {"to_consultant_id": 999_999}


def _to_self(world, sender, receiver, project_id, phone):
    return {"to_consultant_id": sender.id}


def _already_handed_off(world, sender, receiver, project_id, phone):
    hand_off(world, sender, project_id, to=receiver, phone=phone)
    return {}


def _paused_project(world, sender, receiver, project_id, phone):
    return {"project_id": world.project(status="paused"), "to_consultant_id": receiver.id}


def _unknown_project(world, sender, receiver, project_id, phone):
    return {"project_id": 999_999}


def _existing_customer(world, sender, receiver, project_id, phone):
    with world.app.app_context():
        db.session.add(ExistingCustomer(project_id=project_id, phone="+86" + phone, created_at=now()))
        db.session.commit()
    return {"to_consultant_id": receiver.id}


def _senders_own_phone(world, sender, receiver, project_id, phone):
    own = world.client.get("/api/mp/v1/consultants/me", headers=sender.auth).get_json()["phone"]
    return {"buyer_phone": own, "to_consultant_id": receiver.id}


@pytest.mark.parametrize("setup, status, code", [
    (_register_own, 409, "buyer_already_yours"),
    (_pending_consultant, 409, "receiver_unavailable"),
    (_suspended_consultant, 409, "receiver_unavailable"),
    (_unknown_consultant, 409, "receiver_unavailable"),
    (_to_self, 422, "handoff_to_self"),
    (_already_handed_off, 409, "handoff_pending"),
    (_paused_project, 409, "project_not_accepting"),
    (_unknown_project, 404, "project_not_found"),
    (_existing_customer, 409, "buyer_known_to_developer"),
    (_senders_own_phone, 409, "buyer_is_self"),
], ids=lambda value: value.__name__.strip("_") if callable(value) else None)
def test_a_handoff_that_cannot_be_made_is_refused_and_changes_nothing(world, counts, setup, status, code):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    project_id, phone = world.project(), world.next_buyer_phone()
    body = {"project_id": project_id, "buyer_name": "李女士", "buyer_phone": phone,
            **setup(world, sender, receiver, project_id, phone)}
    before = counts()
    response = world.client.post(URL, json=body, headers=sender.auth)
    assert response.status_code == status, response.get_json()
    assert error(response)["code"] == code
    assert counts() == before


def test_bad_fields_are_reported_all_at_once(world, client, counts):
    sender = world.operating_consultant()
    project_id = world.project()
    before = counts()
    response = client.post(URL, headers=sender.auth, json={"project_id": project_id, "buyer_name": "  ",
                                                           "buyer_phone": "12345"})
    assert response.status_code == 422 and error(response)["code"] == "validation_error"
    assert set(error(response)["details"]["fields"]) == {"buyer_name", "buyer_phone"}
    assert counts() == before


@pytest.mark.parametrize("who", ["pending", "unsigned"])
def test_only_an_operating_consultant_may_hand_off(world, client, counts, who):
    if who == "pending":
        sender = world.apply()
    else:
        sender = world.operating_consultant()
        world.publish_agreement("新版平台顾问合作协议：入驻免费；报备真实；跑单须支付违约金。" * 2)
    project_id = world.project()
    before = counts()
    response = client.post(URL, headers=sender.auth, json={"project_id": project_id, "buyer_name": "李女士",
                                                           "buyer_phone": world.next_buyer_phone()})
    assert response.status_code == 403
    assert error(response)["code"] == {"pending": "consultant_inactive", "unsigned": "contract_unsigned"}[who]
    assert counts() == before


# --- who can see and change a handoff ---------------------------------------------------------------

def test_a_consultant_cannot_read_or_change_another_consultants_handoffs(world, client, counts):
    sender, receiver, stranger = (world.operating_consultant() for _ in range(3))
    sent = hand_off(world, sender, world.project(), to=receiver)
    before = counts()

    assert client.get(f"{URL}/{sent['id']}", headers=stranger.auth).status_code == 404
    for action in ("accept", "decline", "cancel"):
        response = act(client, stranger, sent["id"], action)
        assert response.status_code == 404 and error(response)["code"] == "handoff_not_found", action
    # The sender cannot answer his own offer; the receiver cannot withdraw it.
    for who, action in ((sender, "accept"), (sender, "decline"), (receiver, "cancel")):
        response = act(client, who, sent["id"], action)
        assert response.status_code == 404 and error(response)["code"] == "handoff_not_found", action
    for role in ("sent", "received"):
        page = client.get(URL, query_string={"role": role}, headers=stranger.auth).get_json()
        assert page["total"] == 0 and page["items"] == []
    missing = client.get(f"{URL}/999999", headers=sender.auth)
    assert missing.status_code == 404 and error(missing)["code"] == "handoff_not_found"
    assert counts() == before
    assert read(client, receiver, sent["id"])["status"] == "offered"


def test_lists_show_what_i_sent_and_what_was_offered_to_me(world, client):
    a, b, c = (world.operating_consultant() for _ in range(3))
    project_id = world.project()
    first = hand_off(world, a, project_id, to=b)
    second = hand_off(world, c, project_id, to=b)
    third = hand_off(world, b, project_id, to=a)

    received = client.get(URL, headers=b.auth).get_json()  # received is the default
    assert [item["id"] for item in received["items"]] == [second["id"], first["id"]]
    assert all(item["role"] == "received" and item["phone_masked"] for item in received["items"])
    sent = client.get(URL, query_string={"role": "sent"}, headers=b.auth).get_json()
    assert [item["id"] for item in sent["items"]] == [third["id"]] and sent["total"] == 1
    paged = client.get(URL, query_string={"role": "received", "per_page": 1, "page": 2}, headers=b.auth).get_json()
    assert paged["total"] == 2 and [item["id"] for item in paged["items"]] == [first["id"]]


# --- declining, cancelling, expiring ----------------------------------------------------------------

def test_a_named_colleague_declining_returns_the_handoff_to_the_sender_with_the_reason(world, client, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    project_id = world.project()
    sent = hand_off(world, sender, project_id, to=receiver, phone="13911112222")

    response = act(client, receiver, sent["id"], "decline", reason="不熟悉该区域")
    assert response.status_code == 200
    assert response.get_json()["status"] == "declined" and response.get_json()["phone_masked"] is True

    by_sender = read(client, sender, sent["id"])
    assert by_sender["status"] == "unrouted" and by_sender["end_reason"] == "declined"
    assert by_sender["decline_reason"] == "不熟悉该区域" and by_sender["receiver"] is None
    [told] = notifications(app, sender, "handoff_declined")
    assert "不熟悉该区域" in told.body
    assert events(app, sent["id"]) == ["offered", "declined", "unrouted"]
    # Answered once: he cannot accept it now, and the sender may hand the buyer to someone else.
    late = act(client, receiver, sent["id"], "accept")
    assert late.status_code == 409 and error(late)["code"] == "handoff_closed"
    hand_off(world, sender, project_id, to=world.operating_consultant(), phone="13911112222")


def test_the_sender_may_withdraw_a_handoff_until_it_is_accepted(world, client, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    sent = hand_off(world, sender, world.project(), to=receiver)

    response = act(client, sender, sent["id"], "cancel")
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled" and response.get_json()["end_reason"] == "cancelled_by_sender"
    assert read(client, receiver, sent["id"])["status"] == "withdrawn"
    for who, action in ((receiver, "accept"), (receiver, "decline"), (sender, "cancel")):
        response = act(client, who, sent["id"], action)
        assert response.status_code == 409 and error(response)["code"] == "handoff_closed", action
    assert events(app, sent["id"]) == ["offered", "cancelled"]

    accepted = hand_off(world, sender, world.project(), to=receiver)
    assert act(client, receiver, accepted["id"], "accept").status_code == 200
    too_late = act(client, sender, accepted["id"], "cancel")
    assert too_late.status_code == 409 and error(too_late)["code"] == "handoff_closed"


def test_accepting_after_the_deadline_is_refused(world, client, app, counts):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    sent = hand_off(world, sender, world.project(), to=receiver)
    with app.app_context():  # a day passes before the timeout job runs
        past = now() - timedelta(minutes=1)
        db.session.execute(update(Handoff).where(Handoff.id == sent["id"]).values(respond_by=past))
        db.session.execute(update(HandoffOffer).where(HandoffOffer.handoff_id == sent["id"]).values(respond_by=past))
        db.session.commit()
    before = counts()
    response = act(client, receiver, sent["id"], "accept")
    assert response.status_code == 409 and error(response)["code"] == "handoff_expired"
    assert counts() == before


def test_an_unanswered_named_handoff_times_out_back_to_the_sender_once(world, client, app, counts):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    sent = hand_off(world, sender, world.project(), to=receiver)

    assert run_timeouts(app, now() + timedelta(hours=23)) == 0
    assert read(client, receiver, sent["id"])["status"] == "offered"
    assert run_timeouts(app, now() + timedelta(hours=25)) == 1

    by_sender = read(client, sender, sent["id"])
    assert by_sender["status"] == "unrouted" and by_sender["end_reason"] == "timed_out"
    assert read(client, receiver, sent["id"])["status"] == "timed_out"
    assert len(notifications(app, sender, "handoff_unrouted")) == 1
    assert events(app, sent["id"]) == ["offered", "timed_out", "unrouted"]
    before = counts()
    assert run_timeouts(app, now() + timedelta(hours=25)) == 0
    assert counts() == before


def test_a_registration_refusal_on_acceptance_comes_back_and_leaves_the_offer_open(world, client, app, counts):
    sender, receiver, rival = (world.operating_consultant() for _ in range(3))
    project_id = world.project()
    sent = hand_off(world, sender, project_id, to=receiver, phone="13933334444")
    world.register(rival, project_id, phone="13933334444")  # the buyer is bound meanwhile
    before = counts()
    response = act(client, receiver, sent["id"], "accept")
    assert response.status_code == 409 and error(response)["code"] == "already_registered"
    after = counts()  # only the refused attempt is logged (risk.attempts)
    assert after.pop("registration_attempts") == before.pop("registration_attempts") + 1
    assert after == before
    assert read(client, receiver, sent["id"])["status"] == "offered"


def test_a_receiver_who_is_no_longer_operating_cannot_accept(world, client, counts):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    sent = hand_off(world, sender, world.project(), to=receiver)
    response = world.client.post(f"/admin/api/v1/consultants/{receiver.id}/suspend", json={"reason": "核查中"},
                                 headers=world.staff_auth("operations"))
    assert response.status_code == 200
    before = counts()
    response = act(client, receiver, sent["id"], "accept")
    assert response.status_code == 403 and error(response)["code"] == "consultant_inactive"
    assert counts() == before


# --- the platform pool -------------------------------------------------------------------------------

def test_the_pool_prefers_the_city_then_the_project_then_rating_then_load_and_ends_when_nobody_is_left(
        world, client, app):
    sender = world.operating_consultant(name="转介人")
    project_id = world.project(city="南京")
    other_project = world.project(city="南京")
    shanghai = world.operating_consultant(name="上海")
    set_consultant(app, shanghai, city="上海", rating=100)
    low = world.operating_consultant(name="低分")
    set_consultant(app, low, rating=60)
    busy = world.operating_consultant(name="忙碌")
    set_consultant(app, busy, rating=90)
    world.register(busy, other_project)  # one open registration: load 1
    free = world.operating_consultant(name="空闲")
    set_consultant(app, free, rating=90)
    veteran = world.operating_consultant(name="熟手")
    set_consultant(app, veteran, rating=50)
    world.register(veteran, project_id)  # works this project already
    world.apply(name="待审")  # pending: never offered

    sent = hand_off(world, sender, project_id, phone="13955556666")
    assert sent["via_pool"] and sent["receiver"]["name"] == "熟手"
    order = ["熟手"]
    for _ in range(3):
        current = read(client, sender, sent["id"])["receiver"]
        offeree = {c.id: c for c in (low, busy, free, veteran)}[current["id"]]
        assert act(client, offeree, sent["id"], "decline").status_code == 200
        following = read(client, sender, sent["id"])["receiver"]
        order.append(following["name"])
    assert order == ["熟手", "空闲", "忙碌", "低分"]

    # The last one declines too: nobody in the city is left (上海 is not offered a 南京 buyer).
    assert act(client, low, sent["id"], "decline").status_code == 200
    ended = read(client, sender, sent["id"])
    assert ended["status"] == "unrouted" and ended["end_reason"] == "no_candidate"
    assert len(notifications(app, sender, "handoff_unrouted")) == 1
    assert notifications(app, sender, "handoff_declined") == []  # pool declines are not the sender's business
    assert events(app, sent["id"]) == ["offered"] + ["declined", "rerouted"] * 3 + ["declined", "unrouted"]
    with app.app_context():
        offered = list(db.session.scalars(select(HandoffOffer.consultant_id)
                                          .where(HandoffOffer.handoff_id == sent["id"])))
        assert sorted(offered) == sorted([veteran.id, free.id, busy.id, low.id])
        assert shanghai.id not in offered and sender.id not in offered


def test_a_pool_handoff_with_nobody_to_offer_is_unrouted_and_the_sender_is_told(world, app):
    sender = world.operating_consultant()
    sent = hand_off(world, sender, world.project())
    assert sent["status"] == "unrouted" and sent["end_reason"] == "no_candidate" and sent["receiver"] is None
    assert len(notifications(app, sender, "handoff_unrouted")) == 1
    assert events(app, sent["id"]) == ["unrouted"]


def test_the_timeout_task_reroutes_a_pool_handoff_to_the_next_candidate_and_is_idempotent(world, client, app, counts):
    sender = world.operating_consultant()
    first, second = world.operating_consultant(name="甲"), world.operating_consultant(name="乙")
    set_consultant(app, first, rating=95)
    sent = hand_off(world, sender, world.project())
    assert sent["receiver"]["id"] == first.id

    later = (now() + timedelta(hours=25)).isoformat()
    assert reroute_timed_out_task.delay(later).get() == 1

    assert read(client, first, sent["id"])["status"] == "timed_out"
    rerouted = read(client, second, sent["id"])
    assert rerouted["status"] == "offered" and parse(rerouted["respond_by"]) > parse(later)
    [offered] = notifications(app, second, "handoff_offered")
    assert "平台客户池" in offered.body
    before = counts()
    assert reroute_timed_out_task.delay(later).get() == 0
    assert counts() == before
    # The second one accepts in time: the buyer is his, with the original sender as referrer.
    accepted = act(client, second, sent["id"], "accept").get_json()
    with app.app_context():
        registration = db.session.get(Registration, accepted["registration_id"])
        assert registration.consultant_id == second.id and registration.referrer_consultant_id == sender.id
    assert events(app, sent["id"]) == ["offered", "timed_out", "rerouted", "accepted"]


def test_a_pool_handoff_ends_when_the_buyer_was_bound_by_someone_else_meanwhile(world, client, app):
    sender, candidate, rival, other = (world.operating_consultant() for _ in range(4))
    set_consultant(app, candidate, rating=99)
    set_consultant(app, rival, rating=10)
    set_consultant(app, other, rating=10)
    project_id = world.project()
    sent = hand_off(world, sender, project_id, phone="13977778888")
    assert sent["receiver"]["id"] == candidate.id
    world.register(rival, project_id, phone="13977778888")

    assert act(client, candidate, sent["id"], "decline").status_code == 200
    ended = read(client, sender, sent["id"])
    assert ended["status"] == "unrouted" and ended["end_reason"] == "buyer_bound"


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------------

@pytest.mark.postgres
def test_the_same_receiver_accepting_twice_at_once_registers_the_buyer_once(world, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    for _ in range(3):
        sent = hand_off(world, sender, world.project(), to=receiver)
        outcome = parallel(app, [lambda c: act(c, receiver, sent["id"], "accept")] * 2)
        assert outcome == Counter({(200, None): 1, (409, "handoff_closed"): 1})
        with app.app_context():
            assert db.session.scalar(select(db.func.count()).select_from(Registration)
                                     .where(Registration.handoff_id == sent["id"])) == 1


@pytest.mark.postgres
def test_accepting_and_declining_at_once_gives_one_answer(world, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    for _ in range(3):
        sent = hand_off(world, sender, world.project(), to=receiver)
        outcome = parallel(app, [lambda c: act(c, receiver, sent["id"], "accept"),
                                 lambda c: act(c, receiver, sent["id"], "decline")])
        assert outcome == Counter({(200, None): 1, (409, "handoff_closed"): 1})
        with app.app_context():
            handoff = db.session.get(Handoff, sent["id"])
            offer = db.session.scalar(select(HandoffOffer).where(HandoffOffer.handoff_id == sent["id"]))
            assert (handoff.status, offer.outcome) in (("accepted", "accepted"), ("unrouted", "declined"))
            assert (handoff.registration_id is not None) == (handoff.status == "accepted")


@pytest.mark.postgres
def test_sending_the_same_handoff_twice_at_once_makes_one(world, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    project_id, phone = world.project(), world.next_buyer_phone()
    body = {"project_id": project_id, "buyer_name": "李女士", "buyer_phone": phone, "to_consultant_id": receiver.id}
    outcome = parallel(app, [lambda c: c.post(URL, json=body, headers=sender.auth)] * 2)
    assert outcome == Counter({(201, None): 1, (409, "handoff_pending"): 1})


@pytest.mark.postgres
def test_a_receiver_accepting_while_the_timeout_task_runs_never_gets_both(world, app):
    """At the deadline the receiver's accept (just before it) and the job (just after it)
    race for the handoff row; whichever locks it first wins, and the other sees its result."""
    sender, receiver, backup = (world.operating_consultant() for _ in range(3))
    set_consultant(app, receiver, rating=99)
    for _ in range(4):
        sent = hand_off(world, sender, world.project())
        assert sent["receiver"]["id"] == receiver.id
        deadline = parse(sent["respond_by"])
        barrier = threading.Barrier(2)
        results = {}

        def accept():
            with app.app_context():
                me = db.session.get(Consultant, receiver.id)
                barrier.wait()
                try:
                    handoffs.accept(db.session, me, sent["id"], now=deadline - timedelta(seconds=1))
                    commit(db.session)
                    results["accept"] = "ok"
                except handoffs.HandoffClosed:
                    db.session.rollback()
                    results["accept"] = "closed"

        def timeout():
            with app.app_context():
                barrier.wait()
                results["timeout"] = handoffs.reroute_timed_out(db.session, now=deadline + timedelta(seconds=1))
                commit(db.session)

        threads = [threading.Thread(target=accept), threading.Thread(target=timeout)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results in ({"accept": "ok", "timeout": 0}, {"accept": "closed", "timeout": 1}), results
        with app.app_context():
            handoff = db.session.get(Handoff, sent["id"])
            outcomes = dict(db.session.execute(select(HandoffOffer.consultant_id, HandoffOffer.outcome)
                                               .where(HandoffOffer.handoff_id == sent["id"])).all())
            if results["accept"] == "ok":
                assert handoff.status == "accepted" and outcomes == {receiver.id: "accepted"}
            else:
                assert handoff.status == "offered" and handoff.offered_to_id == backup.id
                assert outcomes == {receiver.id: "timed_out", backup.id: None}
                handoffs.cancel(db.session, db.session.get(Consultant, sender.id), sent["id"], now=now())
                commit(db.session)
