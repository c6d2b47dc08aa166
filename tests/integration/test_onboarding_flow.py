"""Onboarding end to end over HTTP: apply → approve → sign → guarded call passes."""
from __future__ import annotations


def test_consultant_applies_is_approved_signs_and_then_passes_the_guard(world, client):
    consultant = world.apply(name="张伟", kind="company", company_name="南京安居置业")
    me = client.get("/api/mp/v1/consultants/me", headers=consultant.auth).get_json()
    assert me["status"] == "pending" and me["status_label"] == "待审核"

    blocked = client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth)
    assert blocked.status_code == 403
    assert blocked.get_json()["error"]["code"] == "consultant_inactive"

    world.approve(consultant)
    world.publish_agreement()
    unsigned = client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth)
    assert unsigned.status_code == 403
    assert unsigned.get_json()["error"]["code"] == "contract_unsigned"

    world.sign(consultant)
    card = client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth)
    assert card.status_code == 200
    assert card.get_json()["invite_code"] == consultant.invite_code
