"""Nobody moves commission by a side door (issue 15 §2): each loophole is refused with its
error code, and what replaced it works.

* site staff's cancellation and back-dated recording wait for a different platform staff
  member's approval (maker-checker); the serving consultant is told and may object first;
* a consultant names his inviter only within the window and before his first registration;
  later only operations, with a reason, in his history;
* a 老带新 claim for a friend a consultant already brought is refused;
* a buyer confirms his own visit only with the sales office's rotating code;
* a referring buyer sees his reward; a consultant's phone counts only once proven by SMS.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from estate_platform.clock import SHANGHAI
from estate_platform.consultants.models import Consultant, ConsultantStatusEvent
from estate_platform.db import db
from estate_platform.deals.models import Deal, DealChangeRequest
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import StaffUser
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.notifications.models import Notification
from estate_platform.registrations.models import Registration
from estate_platform.visits import presence
from estate_platform.visits.models import Visit
from tests.conftest import now

MP = "/api/mp/v1"
ADMIN = "/admin/api/v1"


def today():
    return now().astimezone(SHANGHAI).date()


def code_of(response) -> str:
    return response.get_json()["error"]["code"]


@pytest.fixture
def quick_sms(app):
    """A second code to the same phone within the minute (these tests sign one person in twice)."""
    app.config["SMS_PHONE_INTERVAL_SECONDS"] = 0


def sms_code(client, app, phone: str, ip: str = "10.9.2.1") -> str:
    sent = client.post(f"{MP}/auth/sms/send", json={"phone": phone}, environ_base={"REMOTE_ADDR": ip})
    assert sent.status_code == 200, sent.get_json()
    return app.extensions["adapters"].sms.last_code("+86" + phone)


def kinds(app, consultant_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.kind).where(Notification.consultant_id == consultant_id)
                                       .order_by(Notification.id)))


# --- deals: maker-checker ----------------------------------------------------------------------------

@pytest.fixture
def site(world, app):
    """A consultant's registered buyer in a project of the developer whose site staff record deals."""
    consultant = world.operating_consultant(name="顾问甲")
    headers = world.staff_auth("site_staff")
    with app.app_context():
        developer_id = db.session.scalar(select(StaffUser.developer_id).where(StaffUser.role == "site_staff"))
    project = world.project(developer_id=developer_id, name="金陵府")
    world.commission_rule(project)
    world.split_policy()
    registration = world.register(consultant, project)
    return {"consultant": consultant, "headers": headers, "project": project, "registration": registration,
            "phone": registration["buyer_phone"]}


def signed_deal(world, site) -> dict:
    deal = world.deal(site["project"], site["phone"], role="site_staff", unit="3-1-1201")
    world.stage(deal["id"], "signed", role="site_staff")
    return deal


def test_site_staffs_cancellation_takes_effect_only_after_a_platform_staff_member_approves_it(world, client, app, site):
    deal = signed_deal(world, site)
    asked = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "客户资金不足退房"}, headers=site["headers"])

    assert asked.status_code == 202, asked.get_json()
    request = asked.get_json()
    assert (request["kind"], request["status"], request["deal_id"]) == ("cancel", "pending", deal["id"])
    live = client.get(f"{ADMIN}/deals/{deal['id']}", headers=site["headers"]).get_json()
    assert (live["stage"], live["recognised"]) == ("signed", True)
    with app.app_context():
        assert db.session.scalars(select(LedgerTransaction.kind)).all() == ["commission_recognised"]
    assert kinds(app, site["consultant"].id)[-1] == "deal_change_requested"

    approved = client.post(f"{ADMIN}/deal-requests/{request['id']}/approve", json={"note": "已核实退房协议"},
                           headers=world.staff_auth("operations"))

    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved" and approved.get_json()["decided_by_name"] == "测试operations"
    cancelled = client.get(f"{ADMIN}/deals/{deal['id']}", headers=site["headers"]).get_json()
    assert (cancelled["stage"], cancelled["recognised"], cancelled["cancel_reason"]) == (
        "cancelled", False, "客户资金不足退房")
    with app.app_context():
        assert db.session.scalars(select(LedgerTransaction.kind).order_by(LedgerTransaction.id)).all() == [
            "commission_recognised", "commission_reversed"]
        assert ledger.total(db.session) == 0
        site_staff_id = db.session.scalar(select(StaffUser.id).where(StaffUser.role == "site_staff"))
        [record] = [r for r in evidence.chain(db.session, "deal", deal["id"]) if r.event == "cancelled"]
        assert record.actor_type == "staff" and record.actor_id != site_staff_id
        assert f'"requested_by_staff_id":{site_staff_id}' in record.payload
    assert set(kinds(app, site["consultant"].id)[-2:]) == {"deal_cancelled", "commission_reversed"}


def test_an_approval_runs_once_and_a_decided_request_takes_no_objection(world, client, app, site):
    deal = signed_deal(world, site)
    request = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "退房"},
                          headers=site["headers"]).get_json()
    first = client.post(f"{ADMIN}/deal-requests/{request['id']}/approve", json={}, headers=world.staff_auth("finance"))
    again = client.post(f"{ADMIN}/deal-requests/{request['id']}/approve", json={}, headers=world.staff_auth("admin"))
    late = client.post(f"{MP}/deal-requests/{request['id']}/objection", json={"text": "客户没有退房"},
                       headers=site["consultant"].auth)

    assert first.status_code == 200
    assert again.status_code == 409 and code_of(again) == "deal_request_closed"
    assert late.status_code == 409 and code_of(late) == "deal_request_closed"
    with app.app_context():
        assert db.session.scalars(select(LedgerTransaction.kind)).all().count("commission_reversed") == 1


def test_the_consultant_objects_and_the_approver_reads_it_before_rejecting(world, client, app, site):
    deal = signed_deal(world, site)
    request = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "客户退房"},
                          headers=site["headers"]).get_json()
    mine = client.get(f"{MP}/deal-requests", query_string={"status": "pending"}, headers=site["consultant"].auth)
    assert [r["id"] for r in mine.get_json()["items"]] == [request["id"]]

    objected = client.post(f"{MP}/deal-requests/{request['id']}/objection", headers=site["consultant"].auth,
                           json={"text": "客户已网签并放款，没有退房，请核实"})
    assert objected.status_code == 200 and objected.get_json()["objection"].startswith("客户已网签")
    queue = client.get(f"{ADMIN}/deal-requests", query_string={"status": "pending"},
                       headers=world.staff_auth("operations")).get_json()
    assert [(r["id"], r["objection"]) for r in queue["items"]] == [(request["id"], "客户已网签并放款，没有退房，请核实")]

    no_reason = client.post(f"{ADMIN}/deal-requests/{request['id']}/reject", json={},
                            headers=world.staff_auth("operations"))
    assert no_reason.status_code == 422 and "note" in no_reason.get_json()["error"]["details"]["fields"]
    rejected = client.post(f"{ADMIN}/deal-requests/{request['id']}/reject", json={"note": "开发商未提供退房协议"},
                           headers=world.staff_auth("operations"))
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert client.get(f"{ADMIN}/deals/{deal['id']}", headers=site["headers"]).get_json()["stage"] == "signed"
    assert kinds(app, site["consultant"].id)[-1] == "deal_change_rejected"


@pytest.mark.postgres
def test_three_approvers_at_once_cancel_the_deal_once(world, client, app, site):
    from collections import Counter

    from tests.parallel import parallel
    deal = signed_deal(world, site)
    request = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "退房"},
                          headers=site["headers"]).get_json()
    approvers = [world.staff_auth(role) for role in ("operations", "finance", "admin")]
    outcome = parallel(app, [(lambda c, h=h: c.post(f"{ADMIN}/deal-requests/{request['id']}/approve", json={},
                                                    headers=h)) for h in approvers])
    assert outcome == Counter({(200, None): 1, (409, "deal_request_closed"): 2})
    with app.app_context():
        assert db.session.scalars(select(LedgerTransaction.kind)).all().count("commission_reversed") == 1
        assert ledger.total(db.session) == 0


def test_another_consultant_cannot_object_and_one_request_per_deal_waits_at_a_time(world, client, site):
    deal = signed_deal(world, site)
    request = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "退房"},
                          headers=site["headers"]).get_json()
    stranger = world.operating_consultant(name="顾问乙")
    refused = client.post(f"{MP}/deal-requests/{request['id']}/objection", json={"text": "异议"}, headers=stranger.auth)
    assert refused.status_code == 404 and code_of(refused) == "deal_request_not_found"
    second = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "再次申请"}, headers=site["headers"])
    assert second.status_code == 409 and code_of(second) == "deal_request_pending"


def test_finance_still_cancels_directly(world, client, site):
    deal = signed_deal(world, site)
    response = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "退房"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200 and response.get_json()["stage"] == "cancelled"


def test_the_requester_can_never_decide_his_own_request(world, app, site):
    from estate_platform.deals import requests as deal_requests
    deal = signed_deal(world, site)
    with app.app_context():
        admin_id = world.staff("admin")[0]
        admin = db.session.get(StaffUser, admin_id)
        request = deal_requests.request_cancel(db.session, admin, deal["id"], reason="测试", now=now())
        with pytest.raises(deal_requests.FourEyesRequired):
            deal_requests.approve(db.session, admin, request.id, now=now())
        # And the database says no to a decision by the requester, whatever the code does.
        with pytest.raises(Exception):
            db.session.execute(update(DealChangeRequest).where(DealChangeRequest.id == request.id).values(
                status="approved", decided_by_id=admin_id, decided_at=now()))
            db.session.flush()
        db.session.rollback()


def backdate_registration(app, registration_id: int, days: int) -> None:
    with app.app_context():
        db.session.execute(update(Registration).where(Registration.id == registration_id).values(
            created_at=now() - timedelta(days=days)))
        db.session.commit()


def test_a_back_dated_recording_by_site_staff_is_a_request_priced_by_the_old_rule_once_approved(
        world, client, app, site):
    backdate_registration(app, site["registration"]["id"], days=40)
    world.commission_rule(site["project"], effective_from=(today() - timedelta(days=5)).isoformat(), rate_bps=300)
    long_ago = (today() - timedelta(days=20)).isoformat()
    body = {"project_id": site["project"], "buyer_phone": site["phone"], "unit": "5-2-801",
            "price_cents": 200_000_000, "subscribed_on": long_ago}

    unexplained = client.post(f"{ADMIN}/deals", json=body, headers=site["headers"])
    assert unexplained.status_code == 422 and "note" in unexplained.get_json()["error"]["details"]["fields"]
    asked = client.post(f"{ADMIN}/deals", json={**body, "note": "开发商系统延迟推送认购数据"}, headers=site["headers"])

    assert asked.status_code == 202, asked.get_json()
    request = asked.get_json()
    assert (request["kind"], request["subscribed_on"], request["unit"], request["deal_id"]) == (
        "backdate", long_ago, "5-2-801", None)
    with app.app_context():
        assert db.session.scalar(select(Deal.id)) is None
    assert kinds(app, site["consultant"].id)[-1] == "deal_change_requested"

    approved = client.post(f"{ADMIN}/deal-requests/{request['id']}/approve", json={},
                           headers=world.staff_auth("finance"))
    assert approved.status_code == 200, approved.get_json()
    deal = client.get(f"{ADMIN}/deals/{approved.get_json()['deal_id']}", headers=site["headers"]).get_json()
    assert (deal["subscribed_on"], deal["commission_cents"]) == (long_ago, 4_000_000)  # 2%: the rule then
    with app.app_context():
        row = db.session.get(Deal, deal["id"])
        assert row.recorded_by_id == db.session.scalar(select(StaffUser.id).where(StaffUser.role == "site_staff"))
        [record] = evidence.chain(db.session, "deal", deal["id"])
        assert '"approved_by_staff_id"' in record.payload


def test_site_staff_still_record_recent_deals_and_finance_may_back_date(world, client, app, site):
    backdate_registration(app, site["registration"]["id"], days=40)
    recent = world.deal(site["project"], site["phone"], role="site_staff",
                        subscribed_on=(today() - timedelta(days=7)).isoformat())
    assert recent["stage"] == "subscribed"
    other = world.register(site["consultant"], site["project"])["buyer_phone"]
    backdate_registration(app, world.client.get(f"{MP}/registrations", headers=site["consultant"].auth)
                          .get_json()["items"][0]["id"], days=40)
    by_finance = world.deal(site["project"], other, subscribed_on=(today() - timedelta(days=30)).isoformat())
    assert by_finance["stage"] == "subscribed"


def test_a_request_another_developers_site_staff_cannot_see_or_withdraw(world, client, app, site):
    deal = signed_deal(world, site)
    request = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "退房"},
                          headers=site["headers"]).get_json()
    _, username, password = world.staff("site_staff")
    other = client.post(f"{ADMIN}/auth/login", json={"username": username, "password": password}).get_json()["token"]
    headers = {"Authorization": f"Bearer {other}"}
    assert client.get(f"{ADMIN}/deal-requests", headers=headers).get_json()["total"] == 0
    refused = client.post(f"{ADMIN}/deal-requests/{request['id']}/withdraw", headers=headers)
    assert refused.status_code == 404 and code_of(refused) == "deal_request_not_found"
    withdrawn = client.post(f"{ADMIN}/deal-requests/{request['id']}/withdraw", headers=site["headers"])
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"


# --- the inviter ------------------------------------------------------------------------------------------

def age(app, consultant_id: int, days: int) -> None:
    with app.app_context():
        db.session.execute(update(Consultant).where(Consultant.id == consultant_id).values(
            created_at=now() - timedelta(days=days)))
        db.session.commit()


def test_a_consultant_names_his_inviter_only_within_the_window(world, client, app):
    inviter = world.operating_consultant(name="邀请人")
    fresh, late = world.apply(name="新顾问"), world.apply(name="老顾问")
    age(app, late.id, days=8)

    assert client.put(f"{MP}/consultants/me/inviter", json={"invite_code": inviter.invite_code},
                      headers=fresh.auth).status_code == 201
    refused = client.put(f"{MP}/consultants/me/inviter", json={"invite_code": inviter.invite_code}, headers=late.auth)
    assert refused.status_code == 409 and code_of(refused) == "inviter_window_closed"
    assert refused.get_json()["error"]["details"]["window_days"] == 7


def test_a_consultant_cannot_name_an_inviter_after_his_first_registration(world, client):
    inviter = world.operating_consultant(name="邀请人")
    consultant = world.operating_consultant(name="已报备顾问")
    world.register(consultant, world.project())
    refused = client.put(f"{MP}/consultants/me/inviter", json={"invite_code": inviter.invite_code},
                         headers=consultant.auth)
    assert refused.status_code == 409 and code_of(refused) == "inviter_window_closed"


def test_operations_set_a_late_inviter_with_a_reason_logged_with_who_did_it(world, client, app):
    inviter = world.operating_consultant(name="邀请人")
    late = world.operating_consultant(name="老顾问")
    age(app, late.id, days=30)
    url = f"{ADMIN}/consultants/{late.id}/inviter"

    no_reason = client.post(url, json={"invite_code": inviter.invite_code, "reason": ""},
                            headers=world.staff_auth("operations"))
    assert no_reason.status_code == 422
    assert client.post(url, json={"invite_code": inviter.invite_code, "reason": "线下签约时漏填"},
                       headers=world.staff_auth("finance")).status_code == 403
    done = client.post(url, json={"invite_code": inviter.invite_code, "reason": "线下签约时漏填"},
                       headers=world.staff_auth("operations"))

    assert done.status_code == 200, done.get_json()
    assert done.get_json()["inviter"]["consultant_id"] == inviter.id
    with app.app_context():
        event = db.session.scalars(select(ConsultantStatusEvent).where(ConsultantStatusEvent.consultant_id == late.id)
                                   .order_by(ConsultantStatusEvent.id.desc())).first()
        operations_id = db.session.scalar(select(StaffUser.id).where(StaffUser.role == "operations"))
        assert (event.actor_type, event.actor_id) == ("staff", operations_id)
        assert "线下签约时漏填" in event.reason and inviter.invite_code in event.reason
    twice = client.post(url, json={"invite_code": inviter.invite_code, "reason": "再设一次"},
                        headers=world.staff_auth("operations"))
    assert twice.status_code == 409 and code_of(twice) == "inviter_already_set"


# --- 老带新 ------------------------------------------------------------------------------------------------

def buyer_headers(client, app, phone: str, ip: str = "10.9.0.1") -> dict:
    assert client.post(f"{MP}/auth/sms/send", json={"phone": phone},
                       environ_base={"REMOTE_ADDR": ip}).status_code == 200
    code = app.extensions["adapters"].sms.last_code("+86" + phone)
    token = client.post(f"{MP}/auth/sms/verify", json={"phone": phone, "code": code}).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_friend_a_consultant_already_registered_cannot_be_claimed_for_a_referral_reward(world, client, app):
    consultant = world.operating_consultant()
    project = world.project()
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()
    world.register(consultant, project, phone=friend_phone)
    owner = buyer_headers(client, app, owner_phone)
    friend = buyer_headers(client, app, friend_phone, ip="10.9.0.2")
    code = client.get(f"{MP}/buyer/referral-code", headers=owner).get_json()["code"]

    refused = client.post(f"{MP}/buyer/referrals", json={"code": code}, headers=friend)

    assert refused.status_code == 409 and code_of(refused) == "friend_already_registered"
    # On the share page too: another friend the consultant brought first is told, and nothing is claimed.
    other_phone = world.next_buyer_phone()
    world.register(consultant, world.project(), phone=other_phone)
    page = client.post(f"/r/{code}", data={"phone": other_phone, "sms_code": sms_code(client, app, other_phone)})
    assert page.status_code == 200 and "不能再接受老业主推荐" in page.get_data(as_text=True)
    with app.app_context():
        from estate_platform.referrals.models import ReferralEdge
        assert db.session.scalar(select(ReferralEdge.id).where(ReferralEdge.kind == "buyer_referral")) is None


def test_a_claim_before_the_friends_first_registration_stands(world, client, app):
    consultant = world.operating_consultant()
    owner = buyer_headers(client, app, world.next_buyer_phone())
    friend_phone = world.next_buyer_phone()
    friend = buyer_headers(client, app, friend_phone, ip="10.9.0.3")
    code = client.get(f"{MP}/buyer/referral-code", headers=owner).get_json()["code"]
    assert client.post(f"{MP}/buyer/referrals", json={"code": code}, headers=friend).status_code == 201
    world.register(consultant, world.project(), phone=friend_phone)  # registering him later is fine


def test_a_referring_buyer_sees_his_reward_pending_then_in_his_h5_page(world, client, app, quick_sms):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy(buyer_referral_reward_cents=200_000)
    world.commission_rule(project)
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()
    owner = buyer_headers(client, app, owner_phone)
    friend = buyer_headers(client, app, friend_phone, ip="10.9.0.4")
    code = client.get(f"{MP}/buyer/referral-code", headers=owner).get_json()["code"]
    assert client.post(f"{MP}/buyer/referrals", json={"code": code}, headers=friend).status_code == 201
    assert client.get(f"{MP}/buyer/rewards", headers=owner).get_json()["pending_cents"] == 0

    world.register(consultant, project, phone=friend_phone)
    deal = world.deal(project, friend_phone)
    world.stage(deal["id"], "signed")

    rewards = client.get(f"{MP}/buyer/rewards", headers=owner).get_json()
    assert (rewards["pending_cents"], rewards["available_cents"], rewards["paid_cents"]) == (200_000, 0, 0)
    assert [(h["amount_cents"], h["deal_id"]) for h in rewards["history"]] == [(200_000, deal["id"])]
    assert client.get("/r/").status_code == 200
    page = client.post("/r/", data={"phone": owner_phone, "sms_code": sms_code(client, app, owner_phone, "10.9.0.5")})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and code in html
    assert re.search(r'id="reward-pending">¥2,000\.00<', html) and re.search(r'id="reward-paid">¥0\.00<', html)


# --- proof of presence -------------------------------------------------------------------------------------

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def test_the_office_code_rotates_every_ten_minutes_and_the_previous_one_still_counts():
    t0 = datetime(2026, 12, 2, 2, 0, 0, tzinfo=timezone.utc)  # a slot boundary
    code, turns = presence.current_code(SECRET, 7, t0)
    assert re.fullmatch(r"\d{6}", code) and turns == t0 + timedelta(minutes=10)
    assert presence.current_code(SECRET, 7, t0 + timedelta(minutes=9, seconds=59))[0] == code
    following = presence.current_code(SECRET, 7, t0 + timedelta(minutes=10))[0]
    assert following != code
    assert presence.current_code(SECRET, 8, t0)[0] != code  # each project its own
    assert presence.is_valid(SECRET, 7, code, t0 + timedelta(minutes=19, seconds=59))  # the slot before
    full_width = "".join(chr(ord(d) - ord("0") + ord("０")) for d in code)
    assert presence.is_valid(SECRET, 7, f" {full_width} ", t0)  # typed in full-width digits, with spaces
    assert not presence.is_valid(SECRET, 7, code, t0 + timedelta(minutes=20))
    assert not presence.is_valid(SECRET, 7, code, t0 - timedelta(seconds=1))
    assert not presence.is_valid(SECRET, 8, code, t0)


def visit_scene(world, client, app, **project):
    consultant = world.operating_consultant()
    project_id = world.project(**project)
    phone = world.next_buyer_phone()
    registration = world.register(consultant, project_id, phone=phone)
    booked = client.post(f"{MP}/registrations/{registration['id']}/visits", headers=consultant.auth,
                         json={"scheduled_at": (now() + timedelta(minutes=1)).isoformat()})
    assert booked.status_code == 201, booked.get_json()
    return project_id, booked.get_json(), buyer_headers(client, app, phone, ip="10.9.1.1")


def test_in_a_visit_first_project_a_buyer_cannot_confirm_his_visit_without_being_at_the_office(
        world, client, app, monkeypatch):
    import mini_program_api.visits as handlers
    project_id, visit, buyer = visit_scene(world, client, app, protection_mode="visit_deal")
    frozen = now().replace(microsecond=0) + timedelta(minutes=2)
    monkeypatch.setattr(handlers, "utcnow", lambda: frozen)
    url = f"{MP}/buyer/visits/{visit['id']}/confirm"

    missing = client.post(url, json={}, headers=buyer)
    assert missing.status_code == 422
    stale = presence.code_for(app.config["SECRET_KEY"], project_id, presence.slot_of(frozen) - 2)
    wrong = client.post(url, json={"office_code": stale}, headers=buyer)
    assert wrong.status_code == 422 and code_of(wrong) == "presence_not_proven"
    assert wrong.get_json()["error"]["details"]["attempts_left"] == 4
    with app.app_context():
        row = db.session.get(Visit, visit["id"])
        assert (row.status, row.presence_failures) == ("scheduled", 1)

    good = presence.current_code(app.config["SECRET_KEY"], project_id, frozen)[0]
    confirmed = client.post(url, json={"office_code": good}, headers=buyer)
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"


def test_five_wrong_office_codes_leave_the_visit_to_site_staff(world, client, app):
    project_id, visit, buyer = visit_scene(world, client, app)
    good = presence.current_code(app.config["SECRET_KEY"], project_id, now())[0]
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    url = f"{MP}/buyer/visits/{visit['id']}/confirm"
    statuses = [client.post(url, json={"office_code": wrong}, headers=buyer).status_code for _ in range(5)]
    assert statuses == [422] * 5
    exhausted = client.post(url, json={"office_code": good}, headers=buyer)
    assert exhausted.status_code == 409 and code_of(exhausted) == "presence_attempts_exhausted"
    with app.app_context():
        assert db.session.get(Visit, visit["id"]).status == "scheduled"


def test_site_staff_see_their_projects_office_codes_and_other_roles_none(world, client, app):
    from tests.integration.api_scene import csrf_from
    staff_id, username, password = world.staff("site_staff")
    with app.app_context():
        developer_id = db.session.get(StaffUser, staff_id).developer_id
    project_id = world.project(developer_id=developer_id, name="江景壹号")
    login = client.get("/admin/login")
    client.post("/admin/login", data={"username": username, "password": password,
                                      "csrf_token": csrf_from(login.get_data(as_text=True))})
    page = client.get("/admin/visits/").get_data(as_text=True)
    codes = {presence.current_code(app.config["SECRET_KEY"], project_id, now() + timedelta(seconds=s))[0]
             for s in (-5, 0)}
    assert "售楼处确认码" in page and any(f'class="presence-code">{c}<' in page for c in codes)


# --- the consultant's phone ----------------------------------------------------------------------------------

FETCH = {"X-Requested-With": "fetch"}  # the consultant pages' own script (consultant_app.session)


def test_an_unverified_phone_cannot_sign_in_until_the_consultant_verifies_it(world, client, app, quick_sms):
    phone = world.next_phone()
    consultant = world.apply(phone=phone, phone_verified=False)
    me = client.get(f"{MP}/consultants/me", headers=consultant.auth).get_json()
    assert me["phone_verified"] is False

    refused = client.post("/m/session/sms", json={"phone": phone, "code": sms_code(client, app, phone)}, headers=FETCH)
    assert refused.status_code == 403 and code_of(refused) == "phone_unverified"
    assert not any(h.startswith("ep_m_session=") for h in refused.headers.getlist("Set-Cookie"))

    sent = client.post(f"{MP}/consultants/me/phone/send", headers=consultant.auth,
                       environ_base={"REMOTE_ADDR": "10.9.2.2"})
    assert sent.status_code == 200
    code = app.extensions["adapters"].sms.last_code("+86" + phone)
    wrong = client.post(f"{MP}/consultants/me/phone/verify", json={"code": f"{(int(code) + 1) % 10**6:06d}"},
                        headers=consultant.auth)
    assert wrong.status_code == 400 and code_of(wrong) == "sms_code_invalid"
    verified = client.post(f"{MP}/consultants/me/phone/verify", json={"code": code}, headers=consultant.auth)
    assert verified.status_code == 200 and verified.get_json()["phone_verified"] is True

    signed_in = client.post("/m/session/sms", json={"phone": phone, "code": sms_code(client, app, phone, "10.9.2.3")},
                            headers=FETCH)
    assert signed_in.status_code == 200 and signed_in.get_json()["user"]["consultant_id"] == consultant.id


def test_a_phone_proven_at_apply_is_verified_and_a_wrong_code_applies_nothing(world, client, app):
    phone = world.next_phone()
    token, _ = world.wechat_login()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"name": "新顾问", "phone": phone, "city": "南京", "kind": "independent"}
    code = sms_code(client, app, phone, ip="10.9.3.1")
    wrong = client.post(f"{MP}/consultants", json={**body, "phone_code": f"{(int(code) + 1) % 10**6:06d}"},
                        headers=auth)
    assert wrong.status_code == 400 and code_of(wrong) == "sms_code_invalid"
    assert client.get(f"{MP}/consultants/me", headers=auth).status_code == 404
    applied = client.post(f"{MP}/consultants", json={**body, "phone_code": code}, headers=auth)
    assert applied.status_code == 201 and applied.get_json()["phone_verified"] is True


def test_consultants_who_joined_before_have_an_unverified_phone(world, app):
    """The migration adds phone_verified_at empty: nobody who joined before is taken at his word."""
    consultant = world.apply(phone_verified=False)
    with app.app_context():
        assert db.session.get(Consultant, consultant.id).phone_verified_at is None


# --- the admin pages ------------------------------------------------------------------------------------------

def page_client(app, world, role: str):
    """A browser session of a new staff member of ``role`` (site staff: of the scene's developer)."""
    from tests.integration.api_scene import csrf_from
    staff_id, username, password = world.staff(role)
    with app.app_context():
        if role == "site_staff":
            user = db.session.get(StaffUser, staff_id)
            user.developer_id = db.session.scalar(select(StaffUser.developer_id).where(StaffUser.role == "site_staff")
                                                  .order_by(StaffUser.id))
            db.session.commit()
    browser = app.test_client()
    login = browser.get("/admin/login")
    browser.post("/admin/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(login.get_data(as_text=True))})
    return browser


def test_on_the_pages_site_staff_ask_and_operations_read_the_objection_and_approve(world, client, app, site):
    from tests.integration.api_scene import csrf_from
    deal = signed_deal(world, site)
    staff_page = page_client(app, world, "site_staff")
    detail = staff_page.get(f"/admin/deals/{deal['id']}")
    assert "申请退房" in detail.get_data(as_text=True)
    asked = staff_page.post(f"/admin/deals/{deal['id']}/cancel", follow_redirects=True, data={
        "reason": "客户退房", "csrf_token": csrf_from(detail.get_data(as_text=True))})
    assert "已提交退房申请" in asked.get_data(as_text=True) and "待审核的变更申请" in asked.get_data(as_text=True)
    [request] = client.get(f"{MP}/deal-requests", headers=site["consultant"].auth).get_json()["items"]
    client.post(f"{MP}/deal-requests/{request['id']}/objection", json={"text": "客户仍在供款"},
                headers=site["consultant"].auth)
    assert "客户仍在供款" not in staff_page.get("/admin/deals/requests").get_data(as_text=True)

    operations = page_client(app, world, "operations")
    queue = operations.get("/admin/deals/requests").get_data(as_text=True)
    assert "客户仍在供款" in queue and f'data-request="{request["id"]}"' in queue
    approved = operations.post(f"/admin/deals/requests/{request['id']}/approve", follow_redirects=True,
                               data={"note": "", "csrf_token": csrf_from(queue)})
    assert f"已批准申请 #{request['id']}" in approved.get_data(as_text=True)
    assert client.get(f"{ADMIN}/deals/{deal['id']}", headers=site["headers"]).get_json()["stage"] == "cancelled"
    history = operations.get(f"/admin/deals/{deal['id']}").get_data(as_text=True)
    assert "案场申请退房" in history and "顾问提出异议" in history
