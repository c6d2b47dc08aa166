"""Consultant onboarding, invites and lifecycle (DESIGN §2)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from estate_platform.consultants.models import ConsultantInvite, ConsultantStatusEvent
from estate_platform.db import db
from tests.conftest import refusal


def error(response):
    return response.get_json()["error"]


def test_application_is_pending_with_an_invite_code_and_costs_nothing(world, client):
    consultant = world.apply(name="王芳", kind="store", company_name="鼓楼门店", phone="+86 138-0000-1234")
    me = client.get("/api/mp/v1/consultants/me", headers=consultant.auth).get_json()
    assert me["status"] == "pending" and me["phone"] == "13800001234"
    assert len(me["invite_code"]) == 8 and me["inviter"] is None
    assert "fee" not in str(me).lower()


def test_application_reports_every_bad_field_at_once(world, client, counts):
    token, _ = world.wechat_login()
    before = counts()
    response = client.post("/api/mp/v1/consultants", headers={"Authorization": f"Bearer {token}"},
                           json={"name": " ", "phone": "12345", "city": " ", "kind": "company"})
    assert response.status_code == 422
    fields = error(response)["details"]["fields"]
    assert set(fields) == {"name", "phone", "city", "company_name"}
    assert counts() == before


def test_applying_twice_or_with_a_taken_phone_is_refused(world, client):
    consultant = world.apply(phone="13811112222")
    again = client.post("/api/mp/v1/consultants", headers=consultant.auth,
                        json={"name": "x", "phone": "13811113333", "city": "南京", "kind": "independent"})
    assert again.status_code == 409 and error(again)["code"] == "already_applied"
    token, _ = world.wechat_login()
    taken = client.post("/api/mp/v1/consultants", headers={"Authorization": f"Bearer {token}"},
                        json={"name": "y", "phone": "138 1111 2222", "city": "南京", "kind": "independent"})
    assert taken.status_code == 409 and error(taken)["code"] == "phone_taken"


def test_inviter_edge_is_recorded_with_its_date(world, client, app):
    inviter = world.operating_consultant(name="张伟")
    invitee = world.apply(inviter_code=inviter.invite_code.lower())
    me = client.get("/api/mp/v1/consultants/me", headers=invitee.auth).get_json()
    assert me["inviter"]["consultant_id"] == inviter.id and me["inviter"]["name"] == "张伟"
    assert me["inviter"]["invited_at"]
    with app.app_context():
        edge = db.session.scalar(select(ConsultantInvite).where(ConsultantInvite.invitee_id == invitee.id))
        assert edge.inviter_id == inviter.id and edge.valid_from is not None and edge.valid_to is None


def test_invite_code_of_a_pending_or_unknown_consultant_is_refused(world, client):
    pending = world.apply()
    token, _ = world.wechat_login()
    for code in (pending.invite_code, "ZZZZZZZZ"):
        response = client.post("/api/mp/v1/consultants", headers={"Authorization": f"Bearer {token}"},
                               json={"name": "x", "phone": world.next_phone(), "city": "南京",
                                     "kind": "independent", "inviter_code": code})
        assert response.status_code == 422
        assert error(response)["code"] == "invite_code_invalid"
        assert "inviter_code" in error(response)["details"]["fields"]


def test_self_invite_is_refused(world, client):
    consultant = world.operating_consultant()
    response = client.put("/api/mp/v1/consultants/me/inviter", headers=consultant.auth,
                          json={"invite_code": consultant.invite_code})
    assert response.status_code == 409 and error(response)["code"] == "invite_self"


def test_invite_that_would_close_a_cycle_is_refused(world, client, counts):
    top = world.operating_consultant(name="甲")
    middle = world.operating_consultant(name="乙", inviter_code=top.invite_code)
    bottom = world.operating_consultant(name="丙", inviter_code=middle.invite_code)
    before = counts()
    for upline in (middle, bottom):
        response = client.put("/api/mp/v1/consultants/me/inviter", headers=top.auth,
                              json={"invite_code": upline.invite_code})
        assert response.status_code == 409 and error(response)["code"] == "invite_cycle"
    assert counts() == before


def test_inviter_can_be_named_later_but_only_once(world, client):
    first = world.operating_consultant()
    second = world.operating_consultant()
    late = world.apply()
    response = client.put("/api/mp/v1/consultants/me/inviter", headers=late.auth,
                          json={"invite_code": first.invite_code})
    assert response.status_code == 201 and response.get_json()["consultant_id"] == first.id
    again = client.put("/api/mp/v1/consultants/me/inviter", headers=late.auth,
                       json={"invite_code": second.invite_code})
    assert again.status_code == 409 and error(again)["code"] == "inviter_already_set"


def test_a_consultant_cannot_read_another_consultants_profile(world, client):
    alice, bob = world.apply(name="甲"), world.apply(name="乙")
    own = client.get(f"/api/mp/v1/consultants/{alice.id}", headers=alice.auth)
    assert own.status_code == 200 and own.get_json()["name"] == "甲"
    other = client.get(f"/api/mp/v1/consultants/{bob.id}", headers=alice.auth)
    assert other.status_code == 404 and error(other)["code"] == "consultant_not_found"
    assert "乙" not in other.get_data(as_text=True) and "phone" not in other.get_json()["error"]["details"]
    missing = client.get("/api/mp/v1/consultants/999999", headers=alice.auth)
    assert missing.status_code == 404 and refusal(missing) == refusal(other)


@pytest.mark.parametrize("action,reason,from_status,to_status", [
    ("approve", None, "pending", "active"),
    ("reject", "资料不全", "pending", "rejected"),
])
def test_operations_decide_on_applications(world, client, action, reason, from_status, to_status):
    consultant = world.apply()
    response = client.post(f"/admin/api/v1/consultants/{consultant.id}/{action}", json={"reason": reason},
                           headers=world.staff_auth("operations"))
    assert response.status_code == 200
    assert response.get_json()["status"] == to_status
    assert response.get_json()["status_reason"] == reason


def test_rejection_and_suspension_need_a_reason(world, client):
    consultant = world.apply()
    response = client.post(f"/admin/api/v1/consultants/{consultant.id}/reject", json={},
                           headers=world.staff_auth("operations"))
    assert response.status_code == 422 and "reason" in error(response)["details"]["fields"]


def test_suspend_and_reinstate_switch_the_guard(world, client, app):
    consultant = world.operating_consultant()
    ops = world.staff_auth("operations")
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth).status_code == 200
    client.post(f"/admin/api/v1/consultants/{consultant.id}/suspend", json={"reason": "涉嫌跑单"}, headers=ops)
    blocked = client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth)
    assert blocked.status_code == 403 and error(blocked)["code"] == "consultant_inactive"
    client.post(f"/admin/api/v1/consultants/{consultant.id}/reinstate", json={}, headers=ops)
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth).status_code == 200
    with app.app_context():
        events = db.session.scalars(select(ConsultantStatusEvent.to_status)
                                    .where(ConsultantStatusEvent.consultant_id == consultant.id)
                                    .order_by(ConsultantStatusEvent.id)).all()
    assert events == ["pending", "active", "suspended", "active"]


def test_transitions_out_of_order_are_refused(world, client):
    consultant = world.apply()
    ops = world.staff_auth("operations")
    response = client.post(f"/admin/api/v1/consultants/{consultant.id}/reinstate", json={}, headers=ops)
    assert response.status_code == 409 and error(response)["code"] == "invalid_status_transition"
    unknown = client.post("/admin/api/v1/consultants/999999/approve", json={}, headers=ops)
    assert unknown.status_code == 404 and error(unknown)["code"] == "consultant_not_found"


def test_rejected_applicant_may_apply_again(world, client):
    consultant = world.apply()
    client.post(f"/admin/api/v1/consultants/{consultant.id}/reject", json={"reason": "照片不清晰"},
                headers=world.staff_auth("operations"))
    me = client.get("/api/mp/v1/consultants/me", headers=consultant.auth).get_json()
    assert me["status"] == "rejected" and me["status_reason"] == "照片不清晰"
    again = client.post("/api/mp/v1/consultants", headers=consultant.auth,
                        json={"name": "重新申请", "phone": world.next_phone(), "city": "南京", "kind": "independent"})
    assert again.status_code == 201
    assert again.get_json()["status"] == "pending" and again.get_json()["id"] == consultant.id


def test_admin_list_filters_and_searches(world, client):
    a = world.apply(name="搜索目标")
    world.operating_consultant(name="其他人")
    ops = world.staff_auth("operations")
    pending = client.get("/admin/api/v1/consultants?status=pending", headers=ops).get_json()
    assert [c["id"] for c in pending["items"]] == [a.id] and pending["total"] == 1
    found = client.get("/admin/api/v1/consultants?q=搜索", headers=ops).get_json()
    assert [c["name"] for c in found["items"]] == ["搜索目标"]
    bad = client.get("/admin/api/v1/consultants?status=nonsense", headers=ops)
    assert bad.status_code == 422
