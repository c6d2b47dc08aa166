"""The nightly risk jobs (风控, issue 11 §3) on crafted data: each pattern is flagged with a
score, its evidence and a Chinese reason with the numbers, per-project thresholds are
respected, a re-run (or tomorrow's run) flags nothing twice, and operations dismiss a flag
or open a dispute from it, once.

The data is made by the real services with explicit times (``now`` arguments), ten days
back, and the jobs are run "as of" a moment after it.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from estate_platform.clock import local_date
from estate_platform.consultants.models import Consultant
from estate_platform.credit.models import CreditEvent
from estate_platform.db import commit, db
from estate_platform.deals import services as deals
from estate_platform.disputes.models import Dispute
from estate_platform.errors import DomainError
from estate_platform.identity.models import StaffUser
from estate_platform.projects.models import ExistingCustomer, Project
from estate_platform.registrations import services as registrations
from estate_platform.risk import jobs
from estate_platform.risk.models import RiskFlag
from estate_platform.visits import services as visits
from tests.conftest import now, timedelta
from tests.integration.test_staff_auth import csrf_from, login_page

API = "/admin/api/v1/risk-flags"
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class Field:
    """Registrations, attempts, visits and deals at chosen times, through the services."""

    def __init__(self, world, app):
        self.world, self.app = world, app
        self.t0 = now().replace(second=0, microsecond=0) - 10 * DAY
        self.key = app.config["SECRET_KEY"]
        self.ops_id = world.staff("operations")[0]
        self.finance_id = world.staff("finance")[0]
        self._priced: set[int] = set()

    def consultant(self):
        return self.world.operating_consultant()

    def phone(self) -> str:
        return self.world.next_buyer_phone()

    def register(self, consultant, project: int, phone: str, at: datetime) -> int | str:
        """The registration's id, or the refusal's code (its attempt is kept, as at the edge)."""
        with self.app.app_context():
            who = db.session.get(Consultant, consultant.id)
            try:
                registration = registrations.register(
                    db.session, who, registrations.NewRegistration(project, "周先生", phone), now=at,
                    phone_key=self.key)
            except DomainError as refusal:
                commit(db.session) if refusal.keep_changes else db.session.rollback()
                return refusal.code
            commit(db.session)
            return registration.id

    def visit(self, consultant, registration_id: int, confirmed_at: datetime) -> int:
        with self.app.app_context():
            who = db.session.get(Consultant, consultant.id)
            booked = visits.book_visit(db.session, who, registration_id, confirmed_at - MINUTE,
                                       now=confirmed_at - MINUTE)
            visits.confirm_by_code(db.session, db.session.get(StaffUser, self.ops_id), booked.check_in_code,
                                   now=confirmed_at)
            commit(db.session)
            return booked.id

    def _prices(self, project: int) -> None:
        """A commission rule for the project and the platform's split policy, once each."""
        if project in self._priced:
            return
        self.world.commission_rule(project)
        if not self._priced:
            self.world.split_policy()
        self._priced.add(project)

    def deal(self, project: int, phone: str, at: datetime, unit: str = "1-101", price: int = 300_000_000) -> int:
        self._prices(project)
        with self.app.app_context():
            staff = db.session.get(StaffUser, self.finance_id)
            deal = deals.record_deal(db.session, staff, deals.NewDeal(project, phone, unit, price, local_date(at)),
                                     now=at)
            commit(db.session)
            return deal.id

    def cancel(self, deal_id: int, at: datetime) -> None:
        with self.app.app_context():
            deals.cancel_deal(db.session, db.session.get(StaffUser, self.finance_id), deal_id, reason="客户退房",
                              now=at)
            commit(db.session)

    def correct(self, deal_id: int, price: int, at: datetime) -> None:
        with self.app.app_context():
            deals.correct_price(db.session, db.session.get(StaffUser, self.finance_id), deal_id, price_cents=price,
                                reason="开发商更正成交价", now=at)
            commit(db.session)

    def known_customer(self, project: int, phone: str) -> None:
        with self.app.app_context():
            db.session.add(ExistingCustomer(project_id=project, phone="+86" + phone, created_at=self.t0))
            commit(db.session)

    def set_project(self, project: int, **values) -> None:
        with self.app.app_context():
            row = db.session.get(Project, project)
            for name, value in values.items():
                setattr(row, name, value)
            commit(db.session)

    def run(self, at: datetime, kind: str | None = None, phone_key: str | None = "app"):
        key = self.key if phone_key == "app" else phone_key
        with self.app.app_context():
            result = (jobs.run_all(db.session, now=at, phone_key=key) if kind is None
                      else jobs.run_job(db.session, kind, now=at, phone_key=key))
            commit(db.session)
            return result

    def flags(self, kind: str | None = None) -> list[RiskFlag]:
        with self.app.app_context():
            query = select(RiskFlag).order_by(RiskFlag.id)
            if kind:
                query = query.where(RiskFlag.kind == kind)
            rows = db.session.scalars(query).all()
            db.session.expunge_all()
            return rows

    def rating(self, consultant) -> int:
        with self.app.app_context():
            return db.session.get(Consultant, consultant.id).rating

    def credit_events(self, consultant) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(CreditEvent)
                                     .where(CreditEvent.consultant_id == consultant.id))


@pytest.fixture
def field(world, app) -> Field:
    return Field(world, app)


# --- 防截客 ---------------------------------------------------------------------------------------------------

def test_a_visit_confirmed_minutes_after_its_registration_is_flagged_once_and_costs_credit_once(field):
    project = field.world.project()
    hasty, careful = field.consultant(), field.consultant()
    registration = field.register(hasty, project, field.phone(), field.t0)
    visit = field.visit(hasty, registration, field.t0 + 3 * MINUTE)
    normal = field.register(careful, project, field.phone(), field.t0)
    field.visit(careful, normal, field.t0 + 2 * HOUR)
    before = field.rating(hasty)

    assert field.run(field.t0 + DAY, "anti_interception") == 1
    [flag] = field.flags("anti_interception")
    assert flag.reason_zh == "登记后 3 分钟即确认到访（阈值 10 分钟）"
    assert 60 <= flag.score <= 100 and flag.status == "open"
    assert (flag.consultant_id, flag.registration_id, flag.project_id) == (hasty.id, registration, project)
    assert flag.evidence["visit_id"] == visit and flag.evidence["elapsed_seconds"] == 180
    assert flag.subject_key == f"visit:{visit}"
    assert field.rating(hasty) == before - 5

    assert field.run(field.t0 + DAY, "anti_interception") == 0
    assert field.run(field.t0 + 2 * DAY) == dict.fromkeys(jobs.JOBS, 0)  # tomorrow's run still sees it
    assert len(field.flags()) == 1 and field.rating(hasty) == before - 5
    assert field.credit_events(careful) == 0


def test_a_projects_own_threshold_decides(field):
    strict = field.world.project(risk_visit_within_minutes=60)
    consultant = field.consultant()
    registration = field.register(consultant, strict, field.phone(), field.t0)
    field.visit(consultant, registration, field.t0 + 30 * MINUTE)
    field.run(field.t0 + DAY, "anti_interception")
    [flag] = field.flags("anti_interception")
    assert flag.reason_zh == "登记后 30 分钟即确认到访（阈值 60 分钟）"


# --- short deal -------------------------------------------------------------------------------------------------

def test_a_subscription_hours_after_the_registration_is_flagged(field):
    project = field.world.project()
    fast, patient = field.consultant(), field.consultant()
    phone, other = field.phone(), field.phone()
    registration = field.register(fast, project, phone, field.t0)
    deal = field.deal(project, phone, field.t0 + 5 * HOUR, unit="1-101")
    field.register(patient, project, other, field.t0)
    field.deal(project, other, field.t0 + 3 * DAY, unit="1-102")

    assert field.run(field.t0 + 4 * DAY, "short_deal") == 1
    [flag] = field.flags("short_deal")
    assert flag.reason_zh == "登记后 5 小时内即认购（阈值 24 小时）"
    assert (flag.deal_id, flag.registration_id, flag.consultant_id) == (deal, registration, fast.id)
    assert flag.evidence["elapsed_seconds_at_most"] == 5 * 3600
    assert field.run(field.t0 + 4 * DAY, "short_deal") == 0


def test_a_deal_recorded_late_counts_from_its_subscription_day(field):
    """Recorded three days later, subscribed the same day: at most the rest of that day."""
    project = field.world.project(risk_deal_within_hours=48)
    consultant, phone = field.consultant(), field.phone()
    field.register(consultant, project, phone, field.t0)
    field._prices(project)
    with field.app.app_context():
        staff = db.session.get(StaffUser, field.finance_id)
        deals.record_deal(db.session, staff, deals.NewDeal(project, phone, "2-201", 300_000_000, local_date(field.t0)),
                          now=field.t0 + 3 * DAY)
        commit(db.session)
    field.run(field.t0 + 4 * DAY, "short_deal")
    [flag] = field.flags("short_deal")
    assert flag.evidence["elapsed_seconds_at_most"] < 24 * 3600 and "（阈值 48 小时）" in flag.reason_zh


# --- 撞单 ---------------------------------------------------------------------------------------------------------

def test_one_buyer_registered_or_attempted_by_three_consultants_in_a_week_is_a_collision(field):
    project = field.world.project()
    a, b, c = field.consultant(), field.consultant(), field.consultant()
    phone = field.phone()
    held = field.register(a, project, phone, field.t0)
    assert field.register(b, project, phone, field.t0 + HOUR) == "already_registered"
    assert field.run(field.t0 + 2 * DAY, "collision") == 0  # two consultants: below the threshold
    assert field.register(c, project, phone, field.t0 + 2 * DAY) == "already_registered"

    assert field.run(field.t0 + 3 * DAY, "collision") == 1
    [flag] = field.flags("collision")
    assert flag.reason_zh == "7 天内 3 位顾问报备或尝试报备同一客户（阈值 3 位）"
    assert flag.consultant_id == c.id and flag.evidence["consultant_ids"] == sorted([a.id, b.id, c.id])
    assert flag.evidence["registration_ids"] == [held] and len(flag.evidence["attempt_ids"]) == 2
    assert flag.evidence["attempt_codes"] == {"already_registered": 2}
    with field.app.app_context():
        assert flag.buyer_id == db.session.get(registrations.Registration, held).buyer_id
    assert field.credit_events(c) == 0  # a scramble does not say who broke a rule
    assert field.run(field.t0 + 4 * DAY, "collision") == 0


def test_consultants_spread_over_more_than_the_window_make_no_collision(field):
    project = field.world.project(risk_collision_days=1)
    phone = field.phone()
    field.register(field.consultant(), project, phone, field.t0)
    field.register(field.consultant(), project, phone, field.t0 + 2 * DAY)
    field.register(field.consultant(), project, phone, field.t0 + 4 * DAY)
    assert field.run(field.t0 + 5 * DAY, "collision") == 0


def test_an_attempt_refused_before_the_buyer_was_looked_up_joins_him_by_the_keyed_hash(field):
    project = field.world.project()
    phone = field.phone()
    field.register(field.consultant(), project, phone, field.t0)
    assert field.register(field.consultant(), project, phone, field.t0 + HOUR) == "already_registered"
    field.set_project(project, status="paused")
    assert field.register(field.consultant(), project, phone, field.t0 + 2 * HOUR) == "project_not_accepting"
    assert field.run(field.t0 + DAY, "collision", phone_key=None) == 0  # without the key it is someone unknown
    assert field.run(field.t0 + DAY, "collision") == 1
    [flag] = field.flags("collision")
    assert flag.evidence["attempt_codes"] == {"already_registered": 1, "project_not_accepting": 1}
    assert flag.buyer_id is not None


# --- velocity and fishing ------------------------------------------------------------------------------------------

def test_a_consultant_registering_twenty_buyers_within_an_hour_is_flagged(field):
    project = field.world.project()
    busy = field.consultant()
    for i in range(19):
        field.register(busy, project, field.phone(), field.t0 + i * 2 * MINUTE)
    assert field.run(field.t0 + DAY, "velocity") == 0
    field.known_customer(project, known := field.phone())
    assert field.register(busy, project, known, field.t0 + 40 * MINUTE) == "buyer_known_to_developer"  # 20th

    assert field.run(field.t0 + DAY, "velocity") == 1
    [flag] = field.flags("velocity")
    assert flag.reason_zh == "1 小时内报备或尝试报备 20 次（阈值 20 次）"
    assert flag.consultant_id == busy.id and flag.evidence["events"] == 20
    assert len(flag.evidence["registration_ids"]) == 19 and len(flag.evidence["attempt_ids"]) == 1
    assert flag.buyer_id is not None  # the latest buyer he registered, for a dispute


def test_velocity_thresholds_are_per_project(field):
    project = field.world.project(risk_velocity_count=5, risk_velocity_minutes=30)
    steady, quick = field.consultant(), field.consultant()
    for i in range(5):
        field.register(steady, project, field.phone(), field.t0 + i * 10 * MINUTE)  # 5 in 40 minutes
        field.register(quick, project, field.phone(), field.t0 + i * 5 * MINUTE)  # 5 in 20 minutes
    field.run(field.t0 + DAY, "velocity")
    [flag] = field.flags("velocity")
    assert flag.consultant_id == quick.id and flag.reason_zh == "30 分钟内报备或尝试报备 5 次（阈值 5 次）"


def test_a_consultant_hitting_the_developers_customers_again_and_again_is_fishing(field):
    project = field.world.project()
    fisher, unlucky = field.consultant(), field.consultant()
    customers = [field.phone() for _ in range(4)]
    for phone in customers:
        field.known_customer(project, phone)
    for day, phone in enumerate(customers[:3]):
        assert field.register(fisher, project, phone, field.t0 + day * DAY) == "buyer_known_to_developer"
    field.register(unlucky, project, customers[3], field.t0)

    assert field.run(field.t0 + 4 * DAY, "fishing") == 1
    [flag] = field.flags("fishing")
    assert flag.reason_zh.startswith("7 天内 3 次报备案场老客户被拒（阈值 3 次）")
    assert flag.consultant_id == fisher.id and flag.buyer_id is None
    assert flag.evidence["attempt_codes"] == {"buyer_known_to_developer": 3}
    assert field.run(field.t0 + 4 * DAY, "fishing") == 0


# --- deals --------------------------------------------------------------------------------------------------------

def test_a_price_corrected_down_by_five_percent_or_more_is_flagged(field):
    project = field.world.project()
    consultant = field.consultant()
    cut, trimmed = field.phone(), field.phone()
    field.register(consultant, project, cut, field.t0)
    field.register(consultant, project, trimmed, field.t0)
    deal = field.deal(project, cut, field.t0 + 3 * DAY, unit="3-301")
    other = field.deal(project, trimmed, field.t0 + 3 * DAY, unit="3-302")
    field.correct(deal, 270_000_000, field.t0 + 4 * DAY)
    field.correct(other, 290_000_000, field.t0 + 4 * DAY)  # 3.33%
    field.correct(other, 300_000_000, field.t0 + 4 * DAY + HOUR)  # upward

    assert field.run(field.t0 + 5 * DAY, "price_drop") == 1
    [flag] = field.flags("price_drop")
    assert flag.reason_zh == "成交价由 ¥3,000,000.00 下调至 ¥2,700,000.00，降幅 10%（阈值 5%）"
    assert flag.deal_id == deal and flag.evidence["from_price_cents"] == 300_000_000
    assert field.credit_events(consultant) == 0  # the developer's record, not his conduct
    assert field.run(field.t0 + 5 * DAY, "price_drop") == 0


def test_a_cancelled_unit_recorded_again_for_another_buyer_within_a_week_is_flagged(field):
    project = field.world.project()
    first, second = field.consultant(), field.consultant()
    x, y, z, w = (field.phone() for _ in range(4))
    for consultant, phone in ((first, x), (second, y), (first, z), (second, w)):
        field.register(consultant, project, phone, field.t0)
    cancelled = field.deal(project, x, field.t0 + HOUR, unit="5-501")
    field.cancel(cancelled, field.t0 + DAY)
    again = field.deal(project, y, field.t0 + 2 * DAY, unit="5-501")
    late = field.deal(project, z, field.t0 + HOUR, unit="5-502")
    field.cancel(late, field.t0 + HOUR + MINUTE)
    field.deal(project, w, field.t0 + 9 * DAY, unit="5-502")  # nine days later

    assert field.run(field.t0 + 9 * DAY + HOUR, "unit_rerecorded") == 1
    [flag] = field.flags("unit_rerecorded")
    assert flag.reason_zh == "房号 5-501 退房后 24 小时即为另一位客户重新认购（阈值 7 天）"
    assert (flag.deal_id, flag.consultant_id) == (cancelled, first.id)
    assert flag.evidence["new_deal_id"] == again and flag.subject_key == f"deal:{cancelled}:deal:{again}"
    assert field.run(field.t0 + 9 * DAY + HOUR, "unit_rerecorded") == 0


# --- every job, the nightly task ---------------------------------------------------------------------------------

def test_the_nightly_task_runs_every_job_and_a_rerun_adds_nothing(field, app):
    project = field.world.project()
    consultant = field.consultant()
    registration = field.register(consultant, project, field.phone(), field.t0)
    field.visit(consultant, registration, field.t0 + MINUTE)
    task = app.extensions["celery"].tasks["risk.run_nightly"]
    first = task.delay(now_iso=(field.t0 + DAY).isoformat()).get()
    assert first["anti_interception"] == 1 and sum(first.values()) == 1
    again = task.delay(now_iso=(field.t0 + DAY).isoformat()).get()
    assert again == dict.fromkeys(jobs.JOBS, 0)
    assert app.extensions["celery"].tasks["risk.anti_interception"].delay(
        now_iso=(field.t0 + DAY).isoformat()).get() == 0
    assert len(field.flags()) == 1
    from estate_platform.tasking import BEAT_SCHEDULE
    assert BEAT_SCHEDULE["risk-nightly"]["task"] == "risk.run_nightly"


def test_flags_outside_the_lookback_are_not_raised(field):
    project = field.world.project()
    consultant = field.consultant()
    registration = field.register(consultant, project, field.phone(), field.t0)
    field.visit(consultant, registration, field.t0 + MINUTE)
    assert field.run(field.t0 + 20 * DAY, "anti_interception") == 0


# --- the queue: API -----------------------------------------------------------------------------------------------

@pytest.fixture
def flagged(field):
    """A 防截客 flag (consultant side) and a price-cut flag (developer side)."""
    project = field.world.project()
    consultant = field.consultant()
    phone = field.phone()
    registration = field.register(consultant, project, phone, field.t0)
    field.visit(consultant, registration, field.t0 + 2 * MINUTE)
    deal = field.deal(project, phone, field.t0 + 3 * DAY, unit="8-801")
    field.correct(deal, 240_000_000, field.t0 + 4 * DAY)
    field.run(field.t0 + 5 * DAY)
    flags = {f.kind: f for f in field.flags()}
    return {"consultant": consultant, "project": project, "anti": flags["anti_interception"],
            "price": flags["price_drop"], "deal": deal, "registration": registration}


def test_operations_list_and_filter_the_queue_in_chinese(world, client, flagged):
    ops = world.staff_auth("operations")
    page = client.get(API, headers=ops).get_json()
    assert page["total"] == 2 and {i["kind"] for i in page["items"]} == {"anti_interception", "price_drop"}
    only = client.get(API, headers=ops, query_string={"kind": "price_drop"}).get_json()
    [item] = only["items"]
    assert item["kind_label"] == "成交价下调" and item["status_label"] == "待处理"
    assert item["reason"].startswith("成交价由 ¥3,000,000.00 下调至 ¥2,400,000.00，降幅 20%")
    assert item["respondent_kind"] == "developer" and item["deal_id"] == flagged["deal"]
    assert "*" in item["buyer_phone"] and item["evidence"]["deal_id"] == flagged["deal"]
    mine = client.get(API, headers=ops, query_string={"consultant_id": flagged["consultant"].id,
                                                      "project_id": flagged["project"], "status": "open"}).get_json()
    assert mine["total"] == 2
    assert client.get(API, headers=ops, query_string={"status": "dismissed"}).get_json()["total"] == 0
    detail = client.get(f"{API}/{flagged['anti'].id}", headers=ops).get_json()
    assert detail["reason"] == "登记后 2 分钟即确认到访（阈值 10 分钟）" and detail["consultant"]["id"] == flagged["consultant"].id
    assert client.get(f"{API}/999999", headers=ops).get_json()["error"]["code"] == "risk_flag_not_found"


@pytest.mark.parametrize("role", ["finance", "site_staff"])
def test_only_operations_and_admins_reach_the_queue(world, client, flagged, role):
    headers = world.staff_auth(role)
    assert client.get(API, headers=headers).status_code == 403
    assert client.post(f"{API}/run", headers=headers).status_code == 403
    assert client.post(f"{API}/{flagged['anti'].id}/dismiss", headers=headers, json={"reason": "x"}).status_code == 403
    assert client.get(API, headers=flagged["consultant"].auth).status_code in (401, 403)
    assert client.get(API, headers=world.staff_auth("admin")).status_code == 200


def test_a_flag_is_dismissed_with_a_reason_once(world, client, flagged):
    ops = world.staff_auth("operations")
    url = f"{API}/{flagged['anti'].id}/dismiss"
    blank = client.post(url, headers=ops, json={"reason": "   "})
    assert blank.status_code == 422 and "reason" in blank.get_json()["error"]["details"]["fields"]
    done = client.post(url, headers=ops, json={"reason": "客户本来就在附近，顾问陪同到访，已电话核实"})
    assert done.status_code == 200
    body = done.get_json()
    assert body["status"] == "dismissed" and body["dismiss_reason"].startswith("客户本来就在附近")
    assert body["dismissed_by"]["display_name"] and body["dismissed_at"]
    again = client.post(url, headers=ops, json={"reason": "再次排除"})
    assert again.status_code == 200 and again.get_json()["dismiss_reason"].startswith("客户本来就在附近")
    refused = client.post(f"{API}/{flagged['anti'].id}/dispute", headers=ops, json={})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "risk_flag_closed"


def test_a_dispute_is_opened_from_a_flag_once_against_the_consultant(world, client, app, flagged):
    ops = world.staff_auth("operations")
    url = f"{API}/{flagged['anti'].id}/dispute"
    first = client.post(url, headers=ops, json={})
    assert first.status_code == 201
    dispute_id = first.get_json()["dispute_id"]
    assert first.get_json()["status"] == "disputed" and dispute_id
    second = client.post(url, headers=ops, json={"subject": "另一个标题"})
    assert second.status_code == 200 and second.get_json()["dispute_id"] == dispute_id
    with app.app_context():
        [dispute] = db.session.scalars(select(Dispute)).all()
        assert (dispute.source, dispute.source_key) == ("risk_flag", f"risk_flag:{flagged['anti'].id}")
        assert (dispute.respondent_kind, dispute.respondent_consultant_id) == ("consultant", flagged["consultant"].id)
        assert dispute.registration_id == flagged["registration"] and dispute.subject == "风控预警：防截客"
        assert "登记后 2 分钟即确认到访" in dispute.summary
    dismissed = client.post(f"{API}/{flagged['anti'].id}/dismiss", headers=ops, json={"reason": "误报"})
    assert dismissed.status_code == 409 and dismissed.get_json()["error"]["code"] == "risk_flag_closed"


def test_a_deal_side_flag_opens_a_dispute_against_the_developer_with_the_price_before_the_cut(world, client, app,
                                                                                               flagged):
    response = client.post(f"{API}/{flagged['price'].id}/dispute", headers=world.staff_auth("operations"),
                           json={"subject": "成交价下调待核实", "summary": "开发商在认购后下调成交价 20%"})
    assert response.status_code == 201
    with app.app_context():
        dispute = db.session.get(Dispute, response.get_json()["dispute_id"])
        assert (dispute.respondent_kind, dispute.protected_consultant_id) == ("developer", flagged["consultant"].id)
        assert (dispute.deal_id, dispute.sale_price_cents) == (flagged["deal"], 300_000_000)
        assert dispute.subject == "成交价下调待核实"


def test_a_flag_without_a_buyer_cannot_open_a_dispute(world, client, field):
    project = field.world.project()
    fisher = field.consultant()
    for i in range(3):
        field.known_customer(project, phone := field.phone())
        field.register(fisher, project, phone, field.t0 + i * HOUR)
    field.run(field.t0 + DAY, "fishing")
    [flag] = field.flags("fishing")
    response = client.post(f"{API}/{flag.id}/dispute", headers=world.staff_auth("operations"), json={})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "risk_flag_without_buyer"


def test_operations_run_the_jobs_now_and_again_without_duplicates(world, client, field):
    project = field.world.project()
    consultant = field.consultant()
    registration = field.register(consultant, project, field.phone(), now() - HOUR)
    field.visit(consultant, registration, now() - HOUR + 4 * MINUTE)
    ops = world.staff_auth("operations")
    first = client.post(f"{API}/run", headers=ops)
    assert first.status_code == 200 and first.get_json()["created"]["anti_interception"] == 1
    assert client.post(f"{API}/run", headers=ops).get_json()["total"] == 0


def test_a_projects_thresholds_are_set_through_the_project_api(world, client):
    project = world.project()
    admin = world.staff_auth("admin")
    response = client.patch(f"/admin/api/v1/projects/{project}", headers=admin,
                            json={"risk_visit_within_minutes": 30, "risk_price_drop_bps": 1000})
    assert response.status_code == 200, response.get_json()
    rules = response.get_json()["rules"]
    assert (rules["risk_visit_within_minutes"], rules["risk_price_drop_bps"], rules["risk_collision_consultants"]) == \
        (30, 1000, 3)
    refused = client.patch(f"/admin/api/v1/projects/{project}", headers=admin, json={"risk_collision_consultants": 1})
    assert refused.status_code == 422
    assert "risk_collision_consultants" in refused.get_json()["error"]["details"]["fields"]


# --- the queue: pages ---------------------------------------------------------------------------------------------

def sign_in(world, client, role: str = "operations") -> None:
    _, username, password = world.staff(role)
    assert login_page(client, username, password).status_code == 302


def test_the_queue_page_lists_flags_and_dismisses_one_with_csrf(world, client, flagged):
    sign_in(world, client)
    page = client.get("/admin/risk/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "风控预警" in text and "登记后 2 分钟即确认到访（阈值 10 分钟）" in text
    assert "防截客" in text and "成交价下调" in text
    detail = client.get(f"/admin/risk/{flagged['anti'].id}")
    assert "排除原因" in detail.get_data(as_text=True) and "立案" in detail.get_data(as_text=True)
    token = csrf_from(detail.get_data(as_text=True))
    forged = client.post(f"/admin/risk/{flagged['anti'].id}/dismiss", data={"reason": "误报"})
    assert forged.status_code in (400, 403)
    blank = client.post(f"/admin/risk/{flagged['anti'].id}/dismiss", data={"reason": " ", "csrf_token": token})
    assert blank.status_code == 422 and "请填写排除原因" in blank.get_data(as_text=True)
    done = client.post(f"/admin/risk/{flagged['anti'].id}/dismiss", data={"reason": "已电话核实", "csrf_token": token},
                       follow_redirects=True)
    assert "预警已排除" in done.get_data(as_text=True) and "已电话核实" in done.get_data(as_text=True)
    disputed = client.post(f"/admin/risk/{flagged['price'].id}/dispute", data={"csrf_token": token},
                           follow_redirects=True)
    assert "已据此预警立案争议" in disputed.get_data(as_text=True)
    assert "已立案" in client.get("/admin/risk/?status=disputed").get_data(as_text=True)


def test_the_thresholds_page_saves_a_projects_thresholds_and_explains_a_refusal(world, client, app):
    project = world.project()
    sign_in(world, client)
    page = client.get(f"/admin/risk/thresholds/{project}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "防截客" in text and 'value="10"' in text
    token = csrf_from(text)
    values = {name: str(v) for name, v in {"risk_visit_within_minutes": 15, "risk_deal_within_hours": 24,
                                           "risk_collision_consultants": 4, "risk_collision_days": 7,
                                           "risk_velocity_count": 20, "risk_velocity_minutes": 60,
                                           "risk_fishing_refusals": 3, "risk_fishing_days": 7,
                                           "risk_price_drop_bps": 500, "risk_rerecord_days": 7}.items()}
    saved = client.post(f"/admin/risk/thresholds/{project}", data={**values, "csrf_token": token},
                        follow_redirects=True)
    assert "风控阈值已保存" in saved.get_data(as_text=True)
    refused = client.post(f"/admin/risk/thresholds/{project}",
                          data={**values, "risk_collision_consultants": "1", "risk_velocity_count": "很多",
                                "csrf_token": token})
    assert refused.status_code == 422
    assert "须在 2 到 100 之间" in refused.get_data(as_text=True) and "须在 2 到 10000 之间" in refused.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(Project, project)
        assert (row.risk_visit_within_minutes, row.risk_collision_consultants) == (15, 4)


def test_site_staff_and_finance_cannot_open_the_queue_page(world, client):
    sign_in(world, client, "finance")
    assert client.get("/admin/risk/").status_code == 403
