"""Revisits (回访, DESIGN §4, §5a): the scheduler, the queue, claims, the logged phone reveal
and the outcomes, with a frozen clock.

A market: consultant 甲 registered three buyers at one project. 周先生 visited (confirmed by
the developer's site staff), 王女士 did not, 李女士 bought (a platform deal). Tasks are
created by the scheduler at chosen instants; the admin API's clock is frozen and moved by
the test, so "the next Shanghai day" and "30 minutes later" are exact.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from estate_platform.clock import SHANGHAI, local_date
from estate_platform.credit.models import CreditEvent
from estate_platform.disputes.models import Dispute
from estate_platform.evidence import services as evidence
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import PhoneReveal, Registration
from estate_platform.revisits import rules
from estate_platform.revisits import services as revisits
from estate_platform.revisits.models import Revisit, RevisitCall, RevisitOptOut
from estate_platform.tasking import BEAT_SCHEDULE
from tests.conftest import now
from tests.parallel import parallel

from .api_scene import csrf_from
from .dispute_scene import run, staff_member

API = "/admin/api/v1/revisits"
KEY = b"test-sample-key"
EVERY_DEAL = rules.Settings(deal_sample_bps=10_000)


class Clock:
    """The admin API's and pages' clock, moved by the test (services take ``now``)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, instant: datetime) -> "Clock":
        self.now = instant
        return self

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock(now())
    monkeypatch.setattr("admin.revisits_api.utcnow", fake)
    monkeypatch.setattr("admin.revisits_pages.utcnow", fake)
    return fake


def shanghai_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI).astimezone(timezone.utc)


@dataclass
class Market:
    t0: datetime
    project: int
    jia: object
    zhou_phone: str
    zhou_registration: int
    zhou_visit: int
    wang_phone: str
    wang_registration: int
    li_phone: str
    li_registration: int
    li_deal: int


def build_market(world) -> Market:
    t0 = now()
    site_id, username, password = world.staff("site_staff")
    site = {"Authorization": "Bearer " + world.client.post("/admin/api/v1/auth/login", json={
        "username": username, "password": password}).get_json()["token"]}
    from estate_platform.db import db
    from estate_platform.identity.models import StaffUser
    with world.app.app_context():
        developer_id = db.session.get(StaffUser, site_id).developer_id
    project = world.project(developer_id=developer_id, name="金陵府")
    world.commission_rule(project)
    world.split_policy()
    jia = world.operating_consultant(name="甲")
    zhou = world.register(jia, project, name="周先生")
    booked = world.client.post(f"/api/mp/v1/registrations/{zhou['id']}/visits", headers=jia.auth,
                               json={"scheduled_at": (t0 + timedelta(hours=2)).isoformat()})
    assert booked.status_code == 201, booked.get_json()
    confirmed = world.client.post("/admin/api/v1/visits/check-in", headers=site,
                                  json={"code": booked.get_json()["check_in_code"]})
    assert confirmed.status_code == 200, confirmed.get_json()
    wang = world.register(jia, project, name="王女士")
    li = world.register(jia, project, name="李女士")
    deal = world.deal(project, li["buyer_phone"])
    return Market(t0=t0, project=project, jia=jia, zhou_phone=zhou["buyer_phone"], zhou_registration=zhou["id"],
                  zhou_visit=booked.get_json()["id"], wang_phone=wang["buyer_phone"], wang_registration=wang["id"],
                  li_phone=li["buyer_phone"], li_registration=li["id"], li_deal=deal["id"])


@pytest.fixture
def market(world) -> Market:
    return build_market(world)


@pytest.fixture
def ops(world):
    """Two operations callers: (staff id, bearer headers) each."""
    return staff_member(world, "operations", "回访员小张"), staff_member(world, "operations", "回访员小赵")


def schedule(app, at: datetime, settings: rules.Settings = EVERY_DEAL) -> dict[str, int]:
    return run(app, lambda s: revisits.schedule(s, now=at, settings=settings, sample_key=KEY, chunk_size=2))


def protected_until(app, registration_id: int) -> datetime:
    return run(app, lambda s: s.get(Registration, registration_id).protected_until)


def expire(app, at: datetime) -> int:
    return run(app, lambda s: registrations.expire_due(s, now=at))


def task(app, kind: str, subject_id: int) -> Revisit:
    return run(app, lambda s: s.scalar(select(Revisit).where(Revisit.kind == kind, Revisit.subject_id == subject_id)))


def count(app, model, *where) -> int:
    return run(app, lambda s: s.scalar(select(func.count()).select_from(model).where(*where)))


def make_task(app, market: Market, kind: str) -> Revisit:
    """The market's task of ``kind``, created by the scheduler at the instant it exists."""
    if kind in ("after_visit", "deal_sample"):
        schedule(app, market.t0 + timedelta(hours=3))
        return task(app, kind, market.zhou_visit if kind == "after_visit" else market.li_deal)
    until = protected_until(app, market.wang_registration)
    if kind == "before_expiry":
        schedule(app, until - timedelta(days=3))
    else:
        expire(app, until + timedelta(minutes=1))
        schedule(app, until + timedelta(days=14, hours=1))
    return task(app, kind, market.wang_registration)


def claim(client, revisit_id, headers):
    return client.post(f"{API}/{revisit_id}/claim", headers=headers)


def answer(client, revisit_id, headers, outcome, **fields):
    return client.post(f"{API}/{revisit_id}/outcome", headers=headers, json={"outcome": outcome, **fields})


def code(response) -> str | None:
    return (response.get_json() or {}).get("error", {}).get("code")


# --- the scheduler ---------------------------------------------------------------------------------------

def test_the_scheduler_creates_one_task_per_subject_and_kind_each_when_it_is_due(app, market):
    t0 = market.t0
    assert schedule(app, t0 + timedelta(hours=3)) == {"after_visit": 1, "before_expiry": 0, "after_expiry": 0,
                                                     "deal_sample": 1}
    visit_task = task(app, "after_visit", market.zhou_visit)
    assert (visit_task.registration_id, visit_task.visit_id, visit_task.status, visit_task.attempts) == \
        (market.zhou_registration, market.zhou_visit, "open", 0)
    confirmed_at = run(app, lambda s: s.get(Revisit, visit_task.id).visit.confirmed_at)
    assert visit_task.due_at == shanghai_midnight(local_date(confirmed_at) + timedelta(days=1))  # the day after

    until = protected_until(app, market.wang_registration)
    assert schedule(app, until - timedelta(days=8))["before_expiry"] == 0   # more than N = 7 days before the end
    assert schedule(app, until - timedelta(days=6))["before_expiry"] == 1
    before = task(app, "before_expiry", market.wang_registration)
    assert before.due_at == until - timedelta(days=7)
    # 周先生 is protected for 90 days after his visit, 李女士 bought: neither is asked before expiry.
    assert task(app, "before_expiry", market.zhou_registration) is None
    assert task(app, "before_expiry", market.li_registration) is None

    assert expire(app, until + timedelta(minutes=1)) == 1
    assert schedule(app, until + timedelta(days=13))["after_expiry"] == 0   # fewer than M = 14 days after
    assert schedule(app, until + timedelta(days=14, minutes=5))["after_expiry"] == 1
    assert task(app, "after_expiry", market.wang_registration).due_at == until + timedelta(days=14)
    assert count(app, Revisit) == 4


def test_running_the_scheduler_again_creates_nothing(app, market):
    at = market.t0 + timedelta(hours=3)
    assert sum(schedule(app, at).values()) == 2
    for _ in range(2):
        assert schedule(app, at) == {"after_visit": 0, "before_expiry": 0, "after_expiry": 0, "deal_sample": 0}
    assert count(app, Revisit) == 2


def test_the_same_deals_are_sampled_on_every_run_and_the_rate_is_a_setting(app, world, market):
    at = market.t0 + timedelta(hours=3)
    none = rules.Settings(deal_sample_bps=0)
    assert schedule(app, at, none)["deal_sample"] == 0
    sampled = rules.sampled(market.li_deal, 2000, KEY)
    assert schedule(app, at, rules.Settings())["deal_sample"] == int(sampled)
    assert schedule(app, at, rules.Settings())["deal_sample"] == 0
    assert schedule(app, at, EVERY_DEAL)["deal_sample"] == int(not sampled)


def test_subjects_older_than_the_lookback_are_not_called(app, market):
    late = market.t0 + timedelta(days=31)
    assert schedule(app, late) == {"after_visit": 0, "before_expiry": 0, "after_expiry": 0, "deal_sample": 0}


def test_the_scheduler_is_an_hourly_beat_task_and_runs_as_a_celery_task(app, market):
    assert BEAT_SCHEDULE["schedule-revisits"] == {"task": "revisits.schedule", "schedule": timedelta(hours=1)}
    from estate_platform.revisits.tasks import schedule_task
    app.config["REVISIT_DEAL_SAMPLE_BPS"] = 10_000
    with app.app_context():
        created = schedule_task.delay((market.t0 + timedelta(hours=3)).isoformat()).get()
    assert created["after_visit"] == 1 and created["deal_sample"] == 1
    assert count(app, Revisit) == 2


def test_operations_run_the_scheduler_now_and_finance_may_not(app, client, world, market, ops, clock):
    (_, headers), _ = ops
    app.config["REVISIT_DEAL_SAMPLE_BPS"] = 10_000
    clock.at(market.t0 + timedelta(hours=3))
    response = client.post(f"{API}/schedule", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"created": {"after_visit": 1, "before_expiry": 0, "after_expiry": 0,
                                               "deal_sample": 1}, "total": 2}
    assert client.post(f"{API}/schedule", headers=headers).get_json()["total"] == 0
    refused = client.post(f"{API}/schedule", headers=world.staff_auth("finance"))
    assert (refused.status_code, code(refused)) == (403, "role_forbidden")


# --- the lifecycle, with a frozen clock ------------------------------------------------------------------

def test_an_unreachable_buyer_is_called_on_three_later_days_then_the_task_closes(app, client, market, ops, clock):
    (caller_id, headers), _ = ops
    revisit = make_task(app, market, "after_visit")
    # A minute before it is due (the day after the visit): t0 + 3 h would already be that day when
    # the test runs late in the Shanghai evening.
    clock.at(revisit.due_at - timedelta(minutes=1))
    early = claim(client, revisit.id, headers)  # the call is due the day after the visit
    assert (early.status_code, code(early)) == (409, "revisit_not_due")

    day = local_date(revisit.due_at)
    for attempt in (1, 2, 3, 4):
        clock.at(shanghai_midnight(day) + timedelta(hours=10))
        claimed = claim(client, revisit.id, headers)
        assert claimed.status_code == 200, claimed.get_json()
        assert claimed.get_json()["claimed_by"]["id"] == caller_id
        result = answer(client, revisit.id, headers, "unreachable", note=f"第 {attempt} 次无人接听")
        assert result.status_code == 200, result.get_json()
        body = result.get_json()
        assert body["attempts"] == attempt and body["claimed_by"] is None
        if attempt < 4:
            assert body["status"] == "open"
            day += timedelta(days=1)
            assert datetime.fromisoformat(body["due_at"]) == shanghai_midnight(day)
            clock.advance(hours=13, minutes=59)  # 23:59 the same day: still too early
            again = claim(client, revisit.id, headers)
            assert (again.status_code, code(again)) == (409, "revisit_not_due")
        else:
            assert (body["status"], body["outcome"]) == ("closed", "unreachable")

    assert [c["attempt"] for c in client.get(f"{API}/{revisit.id}", headers=headers).get_json()["calls"]] == [1, 2, 3, 4]
    twice = answer(client, revisit.id, headers, "unreachable")
    assert (twice.status_code, code(twice)) == (409, "revisit_closed")
    with app.app_context():
        from estate_platform.db import db
        chain = evidence.chain(db.session, "visit", market.zhou_visit)
        assert evidence.verify(chain) == (True, None)
        outcomes = [json.loads(r.payload) for r in chain if r.event == "revisit_outcome"]
    assert [(p["attempt"], p["closed"]) for p in outcomes] == [(1, False), (2, False), (3, False), (4, True)]
    for payload in outcomes:  # the evidence log holds no name and no full number (DESIGN §7.9)
        assert payload["buyer_phone"] == market.zhou_phone[:3] + "****" + market.zhou_phone[-4:]
        text = json.dumps(payload, ensure_ascii=False)
        assert market.zhou_phone not in text and "周" not in text


def test_a_confirmed_visit_closes_the_task_and_earns_the_consultant_a_point(app, client, market, ops, clock):
    (_, headers), _ = ops
    revisit = make_task(app, market, "after_visit")
    clock.at(revisit.due_at + timedelta(hours=9))
    assert claim(client, revisit.id, headers).status_code == 200
    result = answer(client, revisit.id, headers, "confirmed")
    assert result.status_code == 200, result.get_json()
    assert (result.get_json()["status"], result.get_json()["outcome"], result.get_json()["dispute_id"]) == \
        ("closed", "confirmed", None)
    events = run(app, lambda s: [(e.reason_code, e.delta, e.ref) for e in s.scalars(
        select(CreditEvent).where(CreditEvent.consultant_id == market.jia.id))])
    assert events == [("revisit_confirmed", 1, f"revisit:{revisit.id}")]
    twice = answer(client, revisit.id, headers, "confirmed")
    assert (twice.status_code, code(twice)) == (409, "revisit_closed")
    assert count(app, CreditEvent) == 1 and count(app, Dispute) == 0


# --- claims --------------------------------------------------------------------------------------------

def test_one_caller_at_a_time_and_a_claim_lapses_after_thirty_minutes(app, client, market, ops, clock):
    (first_id, first), (second_id, second) = ops
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    assert claim(client, revisit.id, first).status_code == 200
    taken = claim(client, revisit.id, second)
    assert (taken.status_code, code(taken)) == (409, "revisit_claimed")
    assert taken.get_json()["error"]["details"]["claimed_by"] == "回访员小张"
    for action in ("outcome", "reveal-phone", "release"):
        refused = client.post(f"{API}/{revisit.id}/{action}", headers=second,
                              **({"json": {"outcome": "confirmed"}} if action == "outcome" else {}))
        assert (refused.status_code, code(refused)) == (409, "revisit_not_claimed"), action

    clock.advance(minutes=29, seconds=59)
    assert claim(client, revisit.id, second).status_code == 409
    assert claim(client, revisit.id, first).status_code == 200   # the holder renews: 30 more minutes
    clock.advance(minutes=29)
    assert claim(client, revisit.id, second).status_code == 409
    clock.advance(minutes=1)                                      # 30 minutes since the renewal: lapsed
    assert claim(client, revisit.id, second).get_json()["claimed_by"]["id"] == second_id
    late = answer(client, revisit.id, first, "confirmed")
    assert (late.status_code, code(late)) == (409, "revisit_not_claimed")
    assert count(app, RevisitCall) == 0

    released = client.post(f"{API}/{revisit.id}/release", headers=second)
    assert released.status_code == 200 and released.get_json()["claimed_by"] is None
    assert claim(client, revisit.id, first).get_json()["claimed_by"]["id"] == first_id


def test_nothing_is_recorded_without_a_claim(app, client, market, ops, clock):
    (_, headers), _ = ops
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    for action, kwargs in (("outcome", {"json": {"outcome": "confirmed"}}), ("reveal-phone", {})):
        refused = client.post(f"{API}/{revisit.id}/{action}", headers=headers, **kwargs)
        assert (refused.status_code, code(refused)) == (409, "revisit_not_claimed")
    assert count(app, RevisitCall) == 0 and count(app, PhoneReveal) == 0
    missing = client.post(f"{API}/999999/claim", headers=headers)
    assert (missing.status_code, code(missing)) == (404, "revisit_not_found")


# --- outcomes and disputes ---------------------------------------------------------------------------

def record(app, client, market, headers, clock, kind, outcome, **fields):
    revisit = make_task(app, market, kind)
    clock.at(max(revisit.due_at, clock.now) + timedelta(hours=1))
    assert claim(client, revisit.id, headers).status_code == 200
    response = answer(client, revisit.id, headers, outcome, **fields)
    assert response.status_code == 200, response.get_json()
    return revisit, response.get_json()


def days_after_t0(market, days: int) -> str:
    return (local_date(market.t0) + timedelta(days=days)).isoformat()


CONTRADICTIONS = [
    # kind, outcome, extra fields, (respondent kind, subject prefix)
    ("after_visit", "denied_visit", {}, ("consultant", "虚假带看")),
    ("deal_sample", "denied_visit", {}, ("consultant", "虚假带看")),
    ("before_expiry", "bought_direct", {}, ("developer", "跑单")),
    ("before_expiry", "bought_other_agent", {"agency": "某某地产"}, ("developer", "撬单")),
    ("after_expiry", "bought_direct", {"bought_on": 10}, ("developer", "跑单")),
    ("after_expiry", "bought_other_agent", {"agency": "链家", "bought_on": 20}, ("developer", "撬单")),
]


@pytest.mark.parametrize("kind, outcome, fields, expected", CONTRADICTIONS,
                         ids=[f"{k}-{o}" for k, o, _, _ in CONTRADICTIONS])
def test_an_answer_that_contradicts_the_records_opens_exactly_one_dispute(app, client, market, ops, clock, kind,
                                                                          outcome, fields, expected):
    (staff_id, headers), _ = ops
    if "bought_on" in fields:
        fields = {**fields, "bought_on": days_after_t0(market, fields["bought_on"])}
    revisit, body = record(app, client, market, headers, clock, kind, outcome, **fields)
    assert body["status"] == "closed" and body["dispute_id"] is not None
    dispute = run(app, lambda s: s.get(Dispute, body["dispute_id"]))
    respondent, subject = expected
    assert (dispute.source, dispute.source_key, dispute.respondent_kind, dispute.opened_by_staff_id) == \
        ("revisit", f"revisit:{revisit.id}", respondent, staff_id)
    assert dispute.subject.startswith(subject)
    if respondent == "consultant":
        assert dispute.respondent_consultant_id == market.jia.id
    else:
        assert dispute.protected_consultant_id == market.jia.id and dispute.respondent_consultant_id is None
    assert market.wang_phone not in dispute.summary and market.zhou_phone not in dispute.summary
    twice = answer(client, revisit.id, headers, outcome, **fields)
    assert (twice.status_code, code(twice)) == (409, "revisit_closed")
    assert count(app, Dispute) == 1
    chain_type = revisits.EVIDENCE_SUBJECTS[kind]
    with app.app_context():
        from estate_platform.db import db
        chain = evidence.chain(db.session, chain_type, revisit.subject_id)
        [event] = [json.loads(r.payload) for r in chain if r.event == "revisit_outcome"]
    assert (event["outcome"], event["dispute_id"]) == (outcome, dispute.id)
    [row] = [r for r in run(app, lambda s: revisits.pack_rows(s, s.get(Dispute, dispute.id))) if r["dispute_id"]]
    assert (row["revisit_id"], row["kind"], row["outcome"], row["calls"]) == \
        (revisit.id, rules.KIND_LABELS[kind], rules.OUTCOME_LABELS[outcome], 1)


AGREEING = [
    ("after_visit", "bought_direct", {}),                        # his protection came from this visit: no deal yet
    ("before_expiry", "denied_visit", {}),                       # 王女士 never visited: nothing to deny
    ("before_expiry", "confirmed", {}),
    ("deal_sample", "bought_other_agent", {"agency": "链家"}),    # the platform's deal exists
    ("deal_sample", "confirmed", {}),
    ("after_expiry", "bought_direct", {"bought_on": 40}),        # bought after protection ended (day 30)
]


@pytest.mark.parametrize("kind, outcome, fields", AGREEING, ids=[f"{k}-{o}" for k, o, _ in AGREEING])
def test_an_answer_that_agrees_with_the_records_opens_no_dispute(app, client, market, ops, clock, kind, outcome,
                                                                 fields):
    (_, headers), _ = ops
    if "bought_on" in fields:
        fields = {**fields, "bought_on": days_after_t0(market, fields["bought_on"])}
    if kind == "after_visit":  # 周先生 bought from the developer on a day he was not protected
        fields["bought_on"] = (local_date(market.t0) - timedelta(days=1)).isoformat()
    _, body = record(app, client, market, headers, clock, kind, outcome, **fields)
    assert body["status"] == "closed" and body["outcome"] == outcome and body["dispute_id"] is None
    assert count(app, Dispute) == 0


def test_another_agency_must_be_named_and_a_call_after_protection_needs_the_day_of_the_sale(app, client, market, ops,
                                                                                          clock):
    (_, headers), _ = ops
    revisit = make_task(app, market, "after_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    assert claim(client, revisit.id, headers).status_code == 200
    refused = answer(client, revisit.id, headers, "bought_other_agent", agency="   ")
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["details"]["fields"]) == {"agency", "bought_on"}
    future = answer(client, revisit.id, headers, "bought_direct",
                    bought_on=(local_date(clock.now) + timedelta(days=1)).isoformat())
    assert future.status_code == 422 and "bought_on" in future.get_json()["error"]["details"]["fields"]
    assert count(app, RevisitCall) == 0
    assert answer(client, revisit.id, headers, "confirmed").status_code == 200  # the claim survived the refusals


def test_a_buyer_who_asks_not_to_be_called_is_never_called_again(app, client, market, ops, clock):
    (staff_id, headers), _ = ops
    revisit = make_task(app, market, "before_expiry")  # 王女士
    assert count(app, Revisit) == 3  # and 周先生's visit and 李女士's deal: other buyers
    clock.at(revisit.due_at + timedelta(hours=1))
    assert claim(client, revisit.id, headers).status_code == 200
    assert answer(client, revisit.id, headers, "do_not_contact").get_json()["outcome"] == "do_not_contact"
    opted = run(app, lambda s: s.scalar(select(RevisitOptOut)))
    assert (opted.buyer_id, opted.revisit_id, opted.staff_user_id) == (revisit.buyer_id, revisit.id, staff_id)

    until = protected_until(app, market.wang_registration)
    expire(app, until + timedelta(minutes=1))
    assert schedule(app, until + timedelta(days=14, hours=1))["after_expiry"] == 0
    assert task(app, "after_expiry", market.wang_registration) is None
    assert count(app, Revisit, Revisit.status == "open") == 2  # the other buyers' tasks are untouched


def test_do_not_contact_closes_the_buyers_other_open_tasks(app, client, world, market, ops, clock):
    (_, headers), _ = ops
    visit_task = make_task(app, market, "after_visit")
    # 周先生 also bought: his deal is sampled, a second task for the same buyer.
    deal = world.deal(market.project, market.zhou_phone)
    schedule(app, market.t0 + timedelta(hours=4))
    deal_task = task(app, "deal_sample", deal["id"])
    assert deal_task is not None and deal_task.buyer_id == visit_task.buyer_id
    clock.at(deal_task.due_at + timedelta(hours=1))
    assert claim(client, visit_task.id, headers).status_code == 200
    assert answer(client, visit_task.id, headers, "do_not_contact").status_code == 200
    closed = client.get(f"{API}/{deal_task.id}", headers=headers).get_json()
    assert (closed["status"], closed["outcome"]) == ("closed", "do_not_contact")
    assert closed["calls"][0]["note"] == f"客户在回访 #{visit_task.id} 中要求不再回访"
    with app.app_context():
        from estate_platform.db import db
        chain = evidence.chain(db.session, "deal", deal["id"])
        assert [r.event for r in chain][-1] == "revisit_outcome" and evidence.verify(chain) == (True, None)


# --- the full phone ------------------------------------------------------------------------------------

def test_the_caller_who_holds_the_task_reads_the_full_phone_and_each_read_is_logged(app, client, world, market, ops,
                                                                                    clock):
    (staff_id, headers), _ = ops
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    listed = client.get(API, headers=headers, query_string={"due": "today", "kind": "before_expiry"}).get_json()
    assert [item["buyer_phone"] for item in listed["items"]] == [market.wang_phone[:3] + "****" + market.wang_phone[-4:]]
    assert claim(client, revisit.id, headers).status_code == 200
    for _ in range(2):
        revealed = client.post(f"{API}/{revisit.id}/reveal-phone", headers=headers)
        assert revealed.status_code == 200
        assert revealed.get_json() == {"revisit_id": revisit.id, "phone": market.wang_phone}
    reads = run(app, lambda s: [(r.staff_user_id, r.buyer_id, r.registration_id, r.purpose, r.created_at)
                                for r in s.scalars(select(PhoneReveal).order_by(PhoneReveal.id))])
    assert reads == [(staff_id, revisit.buyer_id, market.wang_registration,
                      f"回访 #{revisit.id}（保护期将满回访）拨打客户电话", clock.now)] * 2


@pytest.mark.parametrize("role", ["finance", "site_staff"])
def test_finance_and_site_staff_neither_see_the_queue_nor_read_a_full_phone(app, client, world, market, clock, role):
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    headers = world.staff_auth(role)
    for method, path in (("get", API), ("get", f"{API}/{revisit.id}"), ("post", f"{API}/{revisit.id}/claim"),
                         ("post", f"{API}/{revisit.id}/reveal-phone")):
        response = client.open(path, method=method.upper(), headers=headers)
        assert (response.status_code, code(response)) == (403, "role_forbidden"), path
        assert market.wang_phone not in response.get_data(as_text=True)
    assert count(app, PhoneReveal) == 0


def test_the_core_refuses_a_full_phone_to_a_role_that_does_not_call_buyers(app, world, market):
    revisit = make_task(app, market, "before_expiry")
    finance_id = world.staff("finance")[0]
    from estate_platform.identity.models import StaffUser
    with pytest.raises(revisits.RevealForbidden):
        run(app, lambda s: revisits.reveal_phone(s, s.get(StaffUser, finance_id), revisit.id,
                                                 now=revisit.due_at + timedelta(hours=1)))
    assert count(app, PhoneReveal) == 0


# --- the queue -----------------------------------------------------------------------------------------

def test_the_queue_filters_by_project_kind_due_and_outcome(app, client, world, market, ops, clock):
    (_, headers), _ = ops
    visit_task = make_task(app, market, "after_visit")
    deal_task = task(app, "deal_sample", market.li_deal)
    clock.at(market.t0 + timedelta(hours=3))

    def ids(**query):
        response = client.get(API, headers=headers, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert sorted(ids()) == sorted([visit_task.id, deal_task.id])
    assert ids(kind="deal_sample") == [deal_task.id]
    assert ids(project_id=market.project, kind="after_visit") == [visit_task.id]
    assert ids(project_id=world.project()) == []
    assert ids(due="overdue") == []
    clock.at(visit_task.due_at + timedelta(hours=9))
    assert sorted(ids(due="today")) == sorted([visit_task.id, deal_task.id])
    clock.advance(days=2)
    assert sorted(ids(due="overdue")) == sorted([visit_task.id, deal_task.id])
    claim(client, visit_task.id, headers)
    answer(client, visit_task.id, headers, "confirmed")
    assert ids(status="closed", outcome="confirmed") == [visit_task.id]
    assert ids(status="open") == [deal_task.id]
    detail = client.get(f"{API}/{visit_task.id}", headers=headers).get_json()
    assert detail["script"][0].startswith("您好，请问是周先生吗？") and "金陵府" in detail["script"][0]
    assert any("甲" in line for line in detail["script"])
    assert market.zhou_phone not in json.dumps(detail, ensure_ascii=False)


# --- the pages -----------------------------------------------------------------------------------------

def page_login(client, world, role="operations"):
    staff_id, username, password = world.staff(role)
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    return staff_id


def test_operations_work_the_queue_in_the_admin_pages(app, client, world, market, clock):
    staff_id = page_login(client, world)
    app.config["REVISIT_DEAL_SAMPLE_BPS"] = 10_000
    clock.at(market.t0 + timedelta(hours=3))
    queue = client.get("/admin/revisits/?due=all")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200 and "立即生成回访任务" in html and "暂无回访任务" in html
    token = csrf_from(html)
    scheduled = client.post("/admin/revisits/schedule?due=all", data={"csrf_token": token}, follow_redirects=True)
    assert "已生成 2 条回访任务" in scheduled.get_data(as_text=True)
    visit_task = task(app, "after_visit", market.zhou_visit)

    clock.at(visit_task.due_at + timedelta(hours=10))
    work = client.post("/admin/revisits/next?kind=after_visit", data={"csrf_token": token})
    assert work.status_code == 302 and work.headers["Location"].endswith(f"/admin/revisits/{visit_task.id}")
    page = client.get(f"/admin/revisits/{visit_task.id}").get_data(as_text=True)
    assert "您好，请问是周先生吗？" in page and "记录回访结果" in page and market.zhou_phone not in page
    revealed = client.post(f"/admin/revisits/{visit_task.id}/reveal-phone", data={"csrf_token": token})
    assert revealed.status_code == 200 and market.zhou_phone in revealed.get_data(as_text=True)
    assert count(app, PhoneReveal, PhoneReveal.staff_user_id == staff_id) == 1

    refused = client.post(f"/admin/revisits/{visit_task.id}/outcome",
                          data={"csrf_token": token, "outcome": "bought_other_agent", "agency": ""})
    assert refused.status_code == 422 and "请填写客户购房所通过的中介" in refused.get_data(as_text=True)
    done = client.post(f"/admin/revisits/{visit_task.id}/outcome", data={"csrf_token": token, "outcome": "denied_visit",
                                                                         "note": "客户说当天是自己去的"},
                       follow_redirects=True)
    text = done.get_data(as_text=True)
    assert f"回访 #{visit_task.id} 已记录：否认顾问带看，与平台记录不符，已立案争议" in text
    assert count(app, Dispute) == 1


def test_finance_cannot_open_the_queue_pages(client, world):
    page_login(client, world, "finance")
    assert client.get("/admin/revisits/").status_code == 403


# --- concurrency on PostgreSQL -----------------------------------------------------------------------

@pytest.mark.postgres
def test_of_two_callers_claiming_at_the_same_instant_exactly_one_gets_the_call(app, market, ops, clock):
    (_, first), (_, second) = ops
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    for _ in range(5):
        results = parallel(app, [lambda c: claim(c, revisit.id, first), lambda c: claim(c, revisit.id, second)])
        assert results == Counter({(200, None): 1, (409, "revisit_claimed"): 1}), results
        holder = task(app, "before_expiry", market.wang_registration).claimed_by_id
        headers = first if holder == ops[0][0] else second
        assert app.test_client().post(f"{API}/{revisit.id}/release", headers=headers).status_code == 200


@pytest.mark.postgres
def test_a_double_submitted_outcome_is_recorded_once(app, market, ops, clock):
    (_, headers), _ = ops
    revisit = make_task(app, market, "before_expiry")
    clock.at(revisit.due_at + timedelta(hours=1))
    assert claim(app.test_client(), revisit.id, headers).status_code == 200
    results = parallel(app, [lambda c: answer(c, revisit.id, headers, "bought_direct")] * 2)
    assert results == Counter({(200, None): 1, (409, "revisit_closed"): 1}), results
    assert count(app, RevisitCall) == 1 and count(app, Dispute) == 1


@pytest.mark.postgres
def test_two_scheduler_runs_at_once_create_each_call_once(app, market, ops, clock):
    (_, headers), (_, other) = ops
    app.config["REVISIT_DEAL_SAMPLE_BPS"] = 10_000
    clock.at(market.t0 + timedelta(hours=3))
    results = parallel(app, [lambda c: c.post(f"{API}/schedule", headers=headers),
                             lambda c: c.post(f"{API}/schedule", headers=other)])
    assert results == Counter({(200, None): 2}), results
    assert count(app, Revisit) == 2
