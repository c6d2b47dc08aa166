"""A market where disputes happen, for the dispute, credit and browser tests.

甲 registered 周先生 at 金陵府 and has a signed deal for him (2% of ¥3,000,000 = ¥60,000),
though 乙 served him; 乙 also protects 王女士, whom the developer sold directly. 丙
invited 乙. The agreement carries the platform's default penalty: the higher of ¥5,000
per case and 2× the commission at stake.
"""
from __future__ import annotations

from dataclasses import dataclass

from estate_platform.clock import SHANGHAI
from estate_platform.db import commit, db
from estate_platform.identity.models import StaffUser
from tests.conftest import AGREEMENT_TEXT, Consultant, now

PENALTY_FIXED = 500_000       # ¥5,000
PENALTY_MULTIPLE = 20_000     # 2×
PRICE = 300_000_000           # ¥3,000,000
COMMISSION = 6_000_000        # 2%


def today():
    return now().astimezone(SHANGHAI).date()


@dataclass
class Market:
    jia: Consultant
    yi: Consultant
    bing: Consultant
    project: int
    developer_id: int
    zhou_phone: str
    zhou_registration: int
    deal: int
    wang_phone: str
    wang_registration: int
    wang_buyer: int
    zhou_buyer: int


def build_market(world, *, penalty_fixed: int = PENALTY_FIXED, penalty_multiple: int = PENALTY_MULTIPLE) -> Market:
    response = world.client.post("/admin/api/v1/agreements", headers=world.staff_auth("admin"), json={
        "title": "顾问合作协议", "text": AGREEMENT_TEXT, "penalty_fixed_cents": penalty_fixed,
        "penalty_multiple_bps": penalty_multiple})
    assert response.status_code == 201, response.get_json()
    jia = world.operating_consultant(name="甲")
    bing = world.operating_consultant(name="丙")
    yi = world.operating_consultant(name="乙", inviter_code=bing.invite_code)
    project = world.project(name="金陵府")
    world.commission_rule(project)   # 2% on signing
    world.split_policy()             # fee 10%, referral 20%, uplines 10% / 5% of the rest
    zhou = world.register(jia, project, name="周先生")
    deal = world.deal(project, zhou["buyer_phone"], price_cents=PRICE, unit="3-1201")
    world.stage(deal["id"], "signed")
    wang = world.register(yi, project, name="王女士")
    from estate_platform.projects.models import Project
    from estate_platform.registrations.models import Registration
    with world.app.app_context():
        developer_id = db.session.get(Project, project).developer_id
        zhou_buyer = db.session.get(Registration, zhou["id"]).buyer_id
        wang_buyer = db.session.get(Registration, wang["id"]).buyer_id
    return Market(jia=jia, yi=yi, bing=bing, project=project, developer_id=developer_id,
                  zhou_phone=zhou["buyer_phone"], zhou_registration=zhou["id"], deal=deal["id"],
                  wang_phone=wang["buyer_phone"], wang_registration=wang["id"], wang_buyer=wang_buyer,
                  zhou_buyer=zhou_buyer)


def staff_member(world, role: str = "operations", name: str | None = None) -> tuple[int, dict]:
    """A fresh staff member of ``role``: (id, bearer headers)."""
    staff_id, username, password = world.staff(role)
    if name:
        with world.app.app_context():
            db.session.get(StaffUser, staff_id).display_name = name
            db.session.commit()
    response = world.client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return staff_id, {"Authorization": f"Bearer {response.get_json()['token']}"}


def run(app, action):
    """Call services in one unit of work, as a request would: commit on success. Model
    instances returned (alone or in a tuple) come back loaded and detached, to be read."""
    with app.app_context():
        try:
            result = action(db.session)
            commit(db.session)
        except Exception:
            db.session.rollback()
            raise
        for item in result if isinstance(result, (tuple, list)) else (result,):
            if isinstance(item, db.Model):
                db.session.refresh(item)
                db.session.expunge(item)
        return result


def staff(session, staff_id: int) -> StaffUser:
    return session.get(StaffUser, staff_id)
