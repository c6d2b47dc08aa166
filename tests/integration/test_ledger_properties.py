"""The double-entry ledger (DESIGN §5, §7.4): idempotent, balanced, immutable — and kept
so by every deal operation (record, stage change, cancellation, price correction, batch).

Runs on SQLite by default and on PostgreSQL with TEST_DATABASE_URL; tests marked
``postgres`` check the PostgreSQL triggers that refuse what bypasses the Python checks.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from estate_platform.clock import local_date
from estate_platform.commissions import services as commissions
from estate_platform.commissions.services import PolicyInput, RuleInput
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch, recognition
from estate_platform.deals import services as deals
from estate_platform.deals.models import Deal
from estate_platform.deals.services import NewDeal
from estate_platform.identity.models import Buyer, StaffUser
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import Account, LedgerTransaction, Posting
from estate_platform.ledger.services import Entry, Leg, Unbalanced
from estate_platform.phones import normalise_phone
from estate_platform.projects.models import Project
from estate_platform.referrals import services as referrals
from tests.conftest import now

_keys = itertools.count(1)


def key(prefix: str = "test") -> str:
    return f"{prefix}:{next(_keys)}"


def counts(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (LedgerTransaction, Posting, Account))


def sale(amount: int, developer_id: int = 7, consultant_id: int = 3, idempotency_key: str | None = None) -> Entry:
    """A small balanced entry: the developer owes, the platform and a consultant earn."""
    fee = amount // 10
    return Entry(idempotency_key=idempotency_key or key(), kind="test", description="测试",
                 legs=(Leg("developer", developer_id, "receivable", amount),
                       Leg("platform", 0, "revenue", -fee),
                       Leg("consultant", consultant_id, "pending", -(amount - fee))))


# --- idempotency ---------------------------------------------------------------------------

def test_posting_a_key_twice_returns_the_first_transaction_and_posts_nothing_more(session):
    entry = sale(10_000)
    first, posted = ledger.post(session, entry, now=now())
    commit(session)
    assert posted is True and len(first.postings) == 3
    before = counts(session)
    # The same key again — even with different legs — posts nothing and returns the first.
    again, posted_again = ledger.post(session, Entry(entry.idempotency_key, "test", "重试", legs=sale(99).legs),
                                      now=now())
    commit(session)
    assert posted_again is False and again.id == first.id
    assert counts(session) == before
    assert sorted(p.amount_cents for p in again.postings) == [-9000, -1000, 10_000]
    assert ledger.total(session) == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=6), repeats=st.integers(1, 3))
def test_a_batch_posted_again_posts_nothing_and_balances_stay(session, amounts, repeats):
    entries = [sale(a, developer_id=100 + i) for i, a in enumerate(amounts)]
    created = ledger.post_many(session, entries, now=now())
    commit(session)
    assert set(created) == {e.idempotency_key for e in entries}
    before = counts(session)
    for _ in range(repeats):
        assert ledger.post_many(session, entries + entries, now=now()) == {}
        commit(session)
    assert counts(session) == before
    for i, a in enumerate(amounts):
        assert ledger.balances(session, "developer", 100 + i)["receivable"] >= a
    assert ledger.unbalanced_transactions(session) == [] and ledger.total(session) == 0


# --- refusing what does not balance ------------------------------------------------------------

UNBALANCED = [
    pytest.param((Leg("developer", 1, "receivable", 100), Leg("platform", 0, "revenue", -99)), id="off-by-one"),
    pytest.param((Leg("developer", 1, "receivable", 100),), id="one-leg"),
    pytest.param((), id="no-legs"),
    pytest.param((Leg("developer", 1, "receivable", 0), Leg("platform", 0, "revenue", 0)), id="all-zero"),
    pytest.param((Leg("developer", 1, "receivable", 100), Leg("platform", 0, "wallet", -100)), id="unknown-kind"),
    pytest.param((Leg("developer", 1, "receivable", 100), Leg("bank", 0, "revenue", -100)), id="unknown-party"),
    pytest.param((Leg("developer", 1, "receivable", 1.5), Leg("platform", 0, "revenue", -1.5)), id="not-cents"),
]


@pytest.mark.parametrize("legs", UNBALANCED)
def test_unbalanced_or_one_leg_entries_are_refused_and_nothing_is_written(session, legs):
    entry = Entry(key(), "test", "坏的", legs=legs)
    with pytest.raises(Unbalanced):
        ledger.check_balanced(entry)
    before = counts(session)
    with pytest.raises(Unbalanced):
        ledger.post(session, entry, now=now())
    # One bad entry in a batch refuses the whole batch before anything is written.
    with pytest.raises(Unbalanced):
        ledger.post_many(session, [sale(500), entry], now=now())
    commit(session)
    assert counts(session) == before


def test_zero_legs_are_dropped_from_a_balanced_entry(session):
    entry = Entry(key(), "test", "含零", legs=(Leg("developer", 1, "receivable", 100),
                                            Leg("consultant", 2, "pending", 0), Leg("platform", 0, "revenue", -100)))
    transaction, posted = ledger.post(session, entry, now=now())
    commit(session)
    assert posted and sorted(p.amount_cents for p in transaction.postings) == [-100, 100]


# --- immutability ----------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "UPDATE ledger_postings SET amount_cents = 1",
    "DELETE FROM ledger_postings",
    "UPDATE ledger_transactions SET description = 'changed'",
    "DELETE FROM ledger_transactions",
])
def test_postings_and_transactions_cannot_be_updated_or_deleted(session, statement):
    transaction, _ = ledger.post(session, sale(10_000), now=now())
    commit(session)
    before = sorted(session.execute(select(Posting.id, Posting.amount_cents, Posting.transaction_id)).all())
    with pytest.raises(DBAPIError):
        session.execute(text(statement))
        commit(session)
    session.rollback()
    assert sorted(session.execute(select(Posting.id, Posting.amount_cents, Posting.transaction_id)).all()) == before
    assert session.scalar(select(LedgerTransaction.description).where(LedgerTransaction.id == transaction.id)) == "测试"


def _raw_transaction(session, idempotency_key: str) -> int:
    return session.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, description, actor_type, created_at) "
        "VALUES (:k, 'raw', 'raw', 'system', :at) RETURNING id"),
        {"k": idempotency_key, "at": now().replace(tzinfo=None)}).scalar_one()


@pytest.mark.postgres
@pytest.mark.parametrize("amounts", [(100, -99), (100,), (100, -100, 1)], ids=["off-by-one", "one-leg", "extra-cent"])
def test_postgres_refuses_an_unbalanced_transaction_inserted_with_sql(session, amounts):
    accounts = ledger.account_ids(session, [("developer", 1, "receivable"), ("platform", 0, "revenue"),
                                            ("consultant", 2, "pending")], now=now())
    commit(session)
    before = counts(session)
    transaction_id = _raw_transaction(session, key("raw"))
    rows = ", ".join(f"({transaction_id}, {account_id}, {amount})"
                     for account_id, amount in zip(accounts.values(), amounts))
    with pytest.raises(DBAPIError, match="unbalanced"):
        session.execute(text(f"INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) VALUES {rows}"))
    session.rollback()
    assert counts(session) == before


@pytest.mark.postgres
def test_postgres_checks_each_insert_statement_so_legs_sent_one_by_one_are_refused(session):
    accounts = ledger.account_ids(session, [("developer", 1, "receivable"), ("platform", 0, "revenue")], now=now())
    commit(session)
    transaction_id = _raw_transaction(session, key("raw"))
    with pytest.raises(DBAPIError, match="unbalanced"):
        session.execute(text("INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) "
                             f"VALUES ({transaction_id}, {accounts[('developer', 1, 'receivable')]}, 100)"))
    session.rollback()


@pytest.mark.postgres
def test_postgres_refuses_at_commit_a_transaction_left_without_postings(session):
    before = counts(session)
    _raw_transaction(session, key("empty"))
    session.flush()  # the row is in; the deferred trigger waits for the commit
    with pytest.raises(DBAPIError, match="fewer than two postings"):
        commit(session)
    session.rollback()
    assert counts(session) == before


@pytest.mark.postgres
def test_postgres_accepts_a_balanced_transaction_inserted_with_sql(session):
    """The triggers refuse only what is wrong: the same SQL path with balanced legs commits."""
    accounts = ledger.account_ids(session, [("developer", 1, "receivable"), ("platform", 0, "revenue")], now=now())
    transaction_id = _raw_transaction(session, key("raw"))
    session.execute(text("INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) VALUES "
                         f"({transaction_id}, {accounts[('developer', 1, 'receivable')]}, 250), "
                         f"({transaction_id}, {accounts[('platform', 0, 'revenue')]}, -250)"))
    commit(session)
    assert ledger.unbalanced_transactions(session) == [] and ledger.total(session) == 0


# --- the big property: deal operations keep the ledger balanced ----------------------------------

SERVING = ("A", "B", "C", "D", "X")  # who may serve a deal (all operating)
UPLINES_OF = {"A": (), "B": ("A",), "C": ("B", "A"), "D": ("C", "B", "A"), "X": ("S",)}  # nearest first
INELIGIBLE = {"S"}  # suspended today: skipped in every chain as of today
HANDOFF_SENDERS = ("A", "B", "C", "S")  # C → D makes C both referrer and level-1 upline of D


@dataclass
class Pool:
    staff_id: int
    consultants: dict[str, int]
    owner_buyer_id: int  # an old owner whose 老带新 code new buyers may claim
    examples: itertools.count = field(default_factory=lambda: itertools.count(1))


def buyer_id_of(session, phone: str) -> int:
    buyer_id = session.scalar(select(Buyer.id).where(Buyer.phone == normalise_phone(phone)))
    assert buyer_id is not None, phone
    return buyer_id


def _pool(app, world) -> Pool:
    """Consultants, staff and an old owner, built once per test and shared by the examples.

    A ← B ← C ← D is an invite chain (D has three uplines, one more than any policy pays);
    S invited X and was then suspended, so S is not operating on any deal's subscription day.
    """
    pool = getattr(world, "_ledger_pool", None)
    if pool is None:
        a = world.operating_consultant(name="甲")
        b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
        c = world.operating_consultant(name="丙", inviter_code=b.invite_code)
        d = world.operating_consultant(name="丁", inviter_code=c.invite_code)
        s = world.operating_consultant(name="戊")
        x = world.operating_consultant(name="己", inviter_code=s.invite_code)
        response = world.client.post(f"/admin/api/v1/consultants/{s.id}/suspend", json={"reason": "测试暂停"},
                                     headers=world.staff_auth("operations"))
        assert response.status_code == 200, response.get_json()
        staff_id, _, _ = world.staff("finance")
        owner = world.register(a, world.project(), phone=world.next_buyer_phone(), name="老业主")
        with app.app_context():
            owner_id = buyer_id_of(db.session, owner["buyer_phone"])
        pool = Pool(staff_id=staff_id, consultants=dict(zip("ABCDSX", (a, b, c, d, s, x))), owner_buyer_id=owner_id)
        world._ledger_pool = pool
    return pool


@st.composite
def rule_inputs(draw):
    basis = draw(st.sampled_from(["rate", "fixed"]))
    trigger = draw(st.sampled_from(["signed", "loan_disbursed", "paid_in_full"]))
    metric = draw(st.sampled_from([None, "units", "amount"]))
    amount = (lambda: draw(st.integers(1, 500))) if basis == "rate" else (lambda: draw(st.integers(1, 10**7)))
    tiers = None
    if metric is not None:
        top = 6 if metric == "units" else 3 * 10**9
        thresholds = draw(st.lists(st.integers(1, top), min_size=1, max_size=3, unique=True))
        tiers = [{"threshold": t, ("rate_bps" if basis == "rate" else "fixed_cents"): amount()} for t in thresholds]
    value = amount()
    return RuleInput(effective_from=date(2020, 1, 1), basis=basis, trigger=trigger, payment_terms_days=30,
                     rate_bps=value if basis == "rate" else None, fixed_cents=value if basis == "fixed" else None,
                     tier_metric=metric, tiers=tiers)


@st.composite
def policy_inputs(draw):
    levels = draw(st.integers(0, 2))
    referral = draw(st.integers(0, 5000))
    upline = []
    for _ in range(levels):
        upline.append(draw(st.integers(0, 10_000 - referral - sum(upline))))
    return PolicyInput(effective_from=date(2020, 1, 1), platform_fee_bps=draw(st.integers(0, 10_000)),
                       referral_bps=referral, upline_bps=upline, max_upline_levels=levels,
                       buyer_referral_reward_cents=draw(st.sampled_from([0, 1, 50_000, 10**6])))


deal_ref = st.integers(0, 3)  # few deals per example, so each goes through several operations
prices = st.integers(10**6, 10**10)  # ¥10,000 – ¥100,000,000: every rule prices these above 0 cents
money_stage = st.sampled_from(["loan_disbursed", "paid_in_full"])
record_op = st.tuples(st.just("record"), st.sampled_from(SERVING), prices,
                      st.none() | st.sampled_from(HANDOFF_SENDERS), st.booleans())
operations = st.builds(lambda first, rest: [first] + rest, record_op, st.lists(st.one_of(
    record_op,
    st.tuples(st.just("record_again"), deal_ref, prices),
    st.tuples(st.just("advance"), deal_ref, money_stage),
    st.tuples(st.just("advance"), deal_ref, money_stage),
    st.tuples(st.just("advance"), deal_ref, money_stage),
    st.tuples(st.just("advance_deferred"), deal_ref, money_stage),
    st.tuples(st.just("advance_deferred"), deal_ref, money_stage),
    st.tuples(st.just("cancel"), deal_ref),
    st.tuples(st.just("correct"), deal_ref, prices),
    st.tuples(st.just("batch"),),
), min_size=1, max_size=15))


@dataclass
class Model:
    """What the test expects of each deal, kept independently of the code under test."""
    unit: str
    phone: str
    stage: str
    price: int
    commission: int
    tier_index: int | None
    serving: str
    referrer: str | None  # who handed the buyer to the serving consultant
    buyer_referred: bool  # the buyer claimed the old owner's 老带新 code
    trigger_reached: bool = False
    recognised: bool = False


NEXT = {"subscribed": "signed"}
ALLOWED = {"subscribed": {"signed"}, "signed": {"loan_disbursed", "paid_in_full"}}
REACHES = {"signed": {"signed"}, "loan_disbursed": {"signed", "loan_disbursed", "paid_in_full"},
           "paid_in_full": {"signed", "loan_disbursed", "paid_in_full"}}  # stage → the triggers it reaches


def half_up(price_cents: int, bps: int) -> int:
    return int((Decimal(price_cents) * bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stored_tiers(rule: RuleInput) -> list[dict]:
    """A deal's tier index counts in the stored rule's tiers, which are kept by threshold."""
    return sorted(rule.tiers or [], key=lambda t: t["threshold"])


def expected_commission(rule: RuleInput, price_cents: int, tier_index: int | None) -> int:
    if tier_index is None:
        rate, fixed = rule.rate_bps, rule.fixed_cents
    else:
        tier = stored_tiers(rule)[tier_index]
        rate, fixed = tier.get("rate_bps"), tier.get("fixed_cents")
    return half_up(price_cents, rate) if rule.basis == "rate" else fixed


def expected_tier(rule: RuleInput, position: int) -> int | None:
    """The tier with the highest threshold reached by ``position`` (None: the base terms)."""
    if rule.tier_metric is None:
        return None
    reached = [i for i, t in enumerate(stored_tiers(rule)) if t["threshold"] <= position]
    return reached[-1] if reached else None


@contextmanager
def recognition_deferred():
    """A stage change whose in-line recognition does not run (a crash, or a deploy that leaves it
    to the hourly batch): only the batch can recognise such a deal."""
    with mock.patch.object(deals.recognition, "recognise", return_value=0):
        yield


def check_deals(session, project_id: int, models: dict[int, Model], pool: Pool, policy: PolicyInput) -> None:
    """Each deal as the model expects, and its ledger postings where its lines say."""
    assert ledger.unbalanced_transactions(session) == []
    assert ledger.total(session) == 0
    developer_id = session.scalar(select(Project.developer_id).where(Project.id == project_id))
    ids = {name: consultant.id for name, consultant in pool.consultants.items()}
    name_of = {consultant_id: name for name, consultant_id in ids.items()}
    for deal_id, expected in models.items():
        deal = session.get(Deal, deal_id)
        session.refresh(deal)
        assert (deal.stage, deal.price_cents, deal.commission_cents, deal.recognised) == (
            expected.stage, expected.price, expected.commission, expected.recognised), deal_id
        receivable = ledger.deal_balance(session, deal_id, "developer", developer_id, "receivable")
        lines = recognition.current_lines(session, deal) if expected.recognised else []
        if expected.recognised:
            assert sum(line.amount_cents for line in lines) == deal.commission_cents
            assert receivable == deal.commission_cents
            assert ledger.deal_balance(session, deal_id, "platform", 0, "revenue") == -sum(
                line.amount_cents for line in lines if line.party_type == "platform")
            # Who is paid: the serving consultant, his referrer and at most the policy's levels of
            # his uplines — never a suspended one, never a third level; the old owner at most
            # the policy's reward.
            serving = expected.serving
            allowed = {serving} | set(UPLINES_OF[serving][:policy.max_upline_levels])
            if expected.referrer:
                allowed.add(expected.referrer)
            allowed -= INELIGIBLE - {serving}
            paid = {name_of[line.party_id] for line in lines if line.party_type == "consultant"}
            for role in sorted({line.role for line in lines}):
                event(f"a recognised deal pays a {role} line")
            assert paid <= allowed, (paid, allowed)
            for line in lines:
                if line.role == "upline":
                    assert name_of[line.party_id] == UPLINES_OF[serving][line.level - 1]
                elif line.role == "referral":
                    assert name_of[line.party_id] == expected.referrer
                elif line.role == "serving":
                    assert line.party_id == ids[serving]
                elif line.role == "buyer_referral":
                    assert expected.buyer_referred and line.party_id == pool.owner_buyer_id
                    assert line.amount_cents <= policy.buyer_referral_reward_cents
        else:
            assert receivable == 0  # never recognised, or reversed in full
            assert ledger.deal_balance(session, deal_id, "platform", 0, "revenue") == 0
        # Nothing was settled, so every line's money is still the deal's pending and nobody owes.
        parties = [("consultant", i) for i in ids.values()] + [("buyer", pool.owner_buyer_id)]
        for party_type, party_id in parties:
            mine = sum(line.amount_cents for line in lines
                       if line.party_type == party_type and line.party_id == party_id)
            assert ledger.deal_balance(session, deal_id, party_type, party_id, "pending") == -mine
            assert ledger.deal_balance(session, deal_id, party_type, party_id, "owes") == 0
            assert ledger.deal_balance(session, deal_id, party_type, party_id, "available") == 0


def _record(app, world, pool: Pool, rule: RuleInput, project_id: int, models: dict[int, Model], *, serving: str,
            price_cents: int, unit: str, phone: str | None, referrer: str | None, buyer_referred: bool) -> int | None:
    """Record a deal as the model expects it. With ``phone`` (a cancelled deal's buyer and unit)
    the buyer's registration and referral edges are those of the cancelled deal: none is made."""
    new_buyer = phone is None
    if new_buyer:
        phone = world.next_buyer_phone()
        if buyer_referred:
            # A 老带新 claim must come before the friend's first registration (it closes the window).
            with app.app_context():
                friend = Buyer(phone=normalise_phone(phone), created_at=now())
                db.session.add(friend)
                db.session.flush()
                code = referrals.referral_code_of(db.session, pool.owner_buyer_id, now=now())
                referrals.claim_referral(db.session, friend.id, code.code, now=now())
                commit(db.session)
        phone = world.register(pool.consultants[serving], project_id, phone=phone)["buyer_phone"]
    with app.app_context():
        session = db.session
        buyer_id = buyer_id_of(session, phone)
        if referrer is not None and new_buyer:
            referrals.record_handoff(session, sender_id=pool.consultants[referrer].id,
                                     receiver_id=pool.consultants[serving].id, buyer_id=buyer_id,
                                     project_id=project_id, handoff_id=None, now=now())
        staff = session.get(StaffUser, pool.staff_id)
        live = [m for m in models.values() if m.stage != "cancelled"]
        position = len(live) + 1 if rule.tier_metric == "units" else sum(m.price for m in live) + price_cents
        deal = deals.record_deal(session, staff, NewDeal(project_id, phone, unit, price_cents, local_date(now())),
                                 now=now())
        commit(session)
        tier = expected_tier(rule, position)
        assert deal.tier_index == tier
        models[deal.id] = Model(unit, phone, "subscribed", price_cents, expected_commission(rule, price_cents, tier),
                                tier, serving, referrer, buyer_referred)
        return deal.id


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(rule=rule_inputs(), policy=policy_inputs(), ops=operations)
def test_any_sequence_of_deal_operations_keeps_every_transaction_balanced(app, world, rule, policy, ops):
    """Record (with or without a handoff referrer and a 老带新 referrer), advance, advance with
    recognition left to the batch, cancel, re-sell a cancelled unit, correct the price, run the
    batch: after every step each transaction balances and the ledger sums to zero; at the end a
    re-run of the batch posts nothing and every deal's lines and postings are as expected."""
    pool = _pool(app, world)
    example = next(pool.examples)
    project_id = world.project()
    with app.app_context():
        session = db.session
        commissions.create_rule(session, project_id, rule, staff_id=pool.staff_id, now=now())
        commissions.create_policy(session, replace(policy, project_id=project_id), staff_id=pool.staff_id, now=now())
        commit(session)
    models: dict[int, Model] = {}
    order: list[int] = []

    for step, op in enumerate(ops):
        kind = op[0]
        if kind == "record":
            _, serving, price_cents, referrer, buyer_referred = op
            if referrer == serving:
                referrer = None
            order.append(_record(app, world, pool, rule, project_id, models, serving=serving, price_cents=price_cents,
                                 unit=f"{example}-{step}", phone=None, referrer=referrer,
                                 buyer_referred=buyer_referred))
            continue
        if kind == "batch":
            with app.app_context():
                session = db.session
                posted = recognition_batch.recognise_due(session, now=now(), after_chunk=lambda: commit(session))
                commit(session)
                due = [m for m in models.values() if m.trigger_reached and not m.recognised and m.stage != "cancelled"]
                assert posted >= len(due)  # (earlier examples leave nothing due when they pass)
                event(f"batch recognised {len(due)}")
                for m in due:
                    m.recognised = True
                recognised = dict(session.execute(select(Deal.id, Deal.recognised).where(Deal.id.in_(order))).all())
                assert recognised == {deal_id: models[deal_id].recognised for deal_id in order}
            continue
        if not order:
            continue
        deal_id = order[op[1] % len(order)]
        m = models[deal_id]
        if kind == "record_again":
            live_unit = any(o.unit == m.unit and o.stage != "cancelled" for o in models.values())
            if not live_unit:
                event("re-sell a cancelled unit")
                order.append(_record(app, world, pool, rule, project_id, models, serving=m.serving,
                                     price_cents=op[2], unit=m.unit, phone=m.phone, referrer=m.referrer,
                                     buyer_referred=m.buyer_referred))
                continue
            with app.app_context():
                session = db.session
                before = counts(session)
                with pytest.raises(deals.UnitAlreadySold):
                    deals.record_deal(session, session.get(StaffUser, pool.staff_id),
                                      NewDeal(project_id, m.phone, m.unit, op[2], local_date(now())), now=now())
                session.rollback()
                assert counts(session) == before
            continue
        with app.app_context():
            session = db.session
            staff = session.get(StaffUser, pool.staff_id)
            before = counts(session)
            if kind in ("advance", "advance_deferred"):
                target = NEXT.get(m.stage, op[2])
                if target not in ALLOWED.get(m.stage, set()):
                    refused = deals.DealCancelled if m.stage == "cancelled" else deals.InvalidStageChange
                    with pytest.raises(refused):
                        deals.change_stage(session, staff, deal_id, target, now=now())
                    session.rollback()
                    assert counts(session) == before
                    continue
                if kind == "advance_deferred":
                    with recognition_deferred():
                        deals.change_stage(session, staff, deal_id, target, now=now())
                else:
                    deals.change_stage(session, staff, deal_id, target, now=now())
                commit(session)
                event(f"{kind} to {target}")
                m.stage = target
                if rule.trigger in REACHES[target]:
                    m.trigger_reached = True
                if m.trigger_reached and kind == "advance":
                    m.recognised = True
            elif kind == "cancel":
                if m.stage == "cancelled":
                    with pytest.raises(deals.DealCancelled):
                        deals.cancel_deal(session, staff, deal_id, reason="退房", now=now())
                    session.rollback()
                    assert counts(session) == before
                    continue
                deals.cancel_deal(session, staff, deal_id, reason="客户退房", now=now())
                commit(session)
                event(f"cancel a {'recognised' if m.recognised else 'pending'} deal")
                m.stage, m.recognised = "cancelled", False
            elif kind == "correct":
                new_price = op[2]
                if m.stage == "cancelled":
                    with pytest.raises(deals.DealCancelled):
                        deals.correct_price(session, staff, deal_id, price_cents=new_price, reason="更正", now=now())
                    session.rollback()
                    assert counts(session) == before
                    continue
                deals.correct_price(session, staff, deal_id, price_cents=new_price, reason="合同价更正", now=now())
                commit(session)
                event(f"correct a {'recognised' if m.recognised else 'pending'} deal")
                if new_price != m.price:
                    m.price = new_price
                    m.commission = expected_commission(rule, new_price, m.tier_index)  # the deal keeps its tier
        with app.app_context():
            assert ledger.unbalanced_transactions(db.session) == [] and ledger.total(db.session) == 0

    with app.app_context():
        session = db.session
        posted = recognition_batch.recognise_due(session, now=now())
        commit(session)
        due = [m for m in models.values() if m.trigger_reached and not m.recognised and m.stage != "cancelled"]
        assert posted == len(due)
        for m in due:
            m.recognised = True
        before = counts(session)
        assert recognition_batch.recognise_due(session, now=now()) == 0  # a re-run posts nothing
        commit(session)
        assert counts(session) == before
        assert recognition_batch.count_due(session) == 0
        check_deals(session, project_id, models, pool, policy)


# --- a zero-cent commission ------------------------------------------------------------------

def test_a_deal_whose_commission_rounds_to_zero_can_still_be_signed(app, world):
    consultant = world.operating_consultant()
    project_id = world.project()
    staff_id, _, _ = world.staff("finance")
    registration = world.register(consultant, project_id)
    with app.app_context():
        session = db.session
        commissions.create_rule(session, project_id, RuleInput(effective_from=date(2020, 1, 1), basis="rate",
                                                               trigger="signed", payment_terms_days=30, rate_bps=1),
                                staff_id=staff_id, now=now())
        commissions.create_policy(session, PolicyInput(effective_from=date(2020, 1, 1), platform_fee_bps=1000,
                                                       max_upline_levels=0), staff_id=staff_id, now=now())
        commit(session)
        staff = session.get(StaffUser, staff_id)
        # 1 bps of ¥49.99 = 0.4999 cents → 0 cents (a valid rule and a valid price).
        deal = deals.record_deal(session, staff, NewDeal(project_id, registration["buyer_phone"], "1-101", 4999,
                                                         local_date(now())), now=now())
        commit(session)
        assert deal.commission_cents == 0
        deal = deals.change_stage(session, staff, deal.id, "signed", now=now())
        commit(session)
        assert deal.stage == "signed"
        assert ledger.unbalanced_transactions(session) == [] and ledger.total(session) == 0
        assert recognition_batch.recognise_due(session, now=now()) == 0
        assert deal.recognised is True and deal.lines_version == 1
        cancelled = deals.cancel_deal(session, staff, deal.id, reason="退房", now=now())
        commit(session)
        assert cancelled.recognised is False and ledger.total(session) == 0
