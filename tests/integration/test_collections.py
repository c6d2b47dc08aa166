"""Collections from developers (回款) and pay-when-paid (issue 12 §1-2, DESIGN §5a): a payment is
applied oldest due first, partial and over-payments to the cent, an undo is a correcting
transaction, and consultants' money becomes available only with the developer's money."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from estate_platform.clock import SHANGHAI
from estate_platform.db import commit, db
from estate_platform.ledger import services as ledger
from estate_platform.receivables import releases
from estate_platform.receivables.models import CommissionRelease
from tests.conftest import now, refusal
from tests.parallel import parallel

COMMISSION = 6_000_000  # 2% of ¥3,000,000
FEE = 600_000           # the platform's 10%
SERVING = COMMISSION - FEE


def today():
    return now().astimezone(SHANGHAI).date()


class Book:
    """One developer's project with a consultant (no upline) and his recognised deals."""

    def __init__(self, world):
        self.world, self.app, self.client = world, world.app, world.client
        self.project = world.project()
        world.commission_rule(self.project, payment_terms_days=30)
        world.split_policy(referral_bps=0, upline_bps=[], max_upline_levels=0)
        self.consultant = world.operating_consultant(name="顾问甲")
        self.finance = world.staff_auth("finance")
        with self.app.app_context():
            from estate_platform.projects.models import Project
            self.developer_id = db.session.get(Project, self.project).developer_id

    def deal(self, signed_days_ago: int = 0) -> int:
        """A deal signed today (recognised); its due date as if signed ``signed_days_ago`` days ago."""
        phone = self.world.register(self.consultant, self.project)["buyer_phone"]
        deal = self.world.deal(self.project, phone)
        self.world.stage(deal["id"], "signed")
        if signed_days_ago:
            from estate_platform.deals.models import Deal
            with self.app.app_context():
                row = db.session.get(Deal, deal["id"])
                row.due_on = today() - timedelta(days=signed_days_ago) + timedelta(days=30)
                db.session.commit()
        return deal["id"]

    def pay(self, amount: int, reference: str, expect: int = 201, **extra):
        response = self.client.post("/admin/api/v1/collections", headers=self.finance, json={
            "developer_id": self.developer_id, "amount_cents": amount, "received_on": today().isoformat(),
            "bank_reference": reference, **extra})
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def balances(self, party_type="consultant", party_id=None):
        with self.app.app_context():
            return ledger.balances(db.session, party_type, self.consultant.id if party_id is None else party_id)

    def available(self) -> int:
        return -self.balances()["available"]

    def pending(self) -> int:
        return -self.balances()["pending"]


@pytest.fixture
def book(world) -> Book:
    return Book(world)


def test_partial_payment_applies_oldest_due_first_and_releases_that_deal_in_proportion(book):
    newer = book.deal(signed_days_ago=0)
    older = book.deal(signed_days_ago=50)
    assert book.pending() == 2 * SERVING and book.available() == 0

    paid = book.pay(COMMISSION + 1_000_000, "BANK-001")

    assert [(a["deal_id"], a["amount_cents"]) for a in paid["allocations"]] == [(older, COMMISSION),
                                                                                (newer, 1_000_000)]
    assert paid["applied_cents"] == COMMISSION + 1_000_000 and paid["unapplied_cents"] == 0
    # the older deal's line wholly, the newer one's 1/6 of 5,400,000 (by largest remainder)
    assert book.available() == SERVING + 900_000
    assert book.pending() == SERVING - 900_000
    developer = book.balances("developer", book.developer_id)
    assert developer["receivable"] == 2 * COMMISSION - (COMMISSION + 1_000_000)
    assert book.balances("platform", 0)["cash"] == COMMISSION + 1_000_000
    with book.app.app_context():
        assert ledger.total(db.session) == 0
        # settlement's view of each line
        views = {v.deal_id: v for v in releases.line_states(db.session, "consultant", book.consultant.id)}
        assert (views[older].released_cents, views[newer].released_cents) == (SERVING, 900_000)


def test_an_odd_cent_payment_releases_by_largest_remainder_and_the_rest_when_paid_in_full(book):
    deal = book.deal()
    book.pay(1, "ODD-1")  # one cent: fee 0.1, serving 0.9 → the serving line gets it
    assert book.available() == 1
    book.pay(COMMISSION - 1, "ODD-2")
    assert book.available() == SERVING and book.pending() == 0
    assert book.balances("developer", book.developer_id)["receivable"] == 0
    assert book.client.get(f"/admin/api/v1/developers/{book.developer_id}/receivables",
                           headers=book.finance).get_json() == []
    assert deal


def test_overpayment_stays_unapplied_until_applied_to_the_next_receivable(book):
    book.deal(signed_days_ago=5)
    paid = book.pay(COMMISSION + 12_345, "BANK-OVER")
    assert paid["unapplied_cents"] == 12_345
    assert book.balances("developer", book.developer_id)["unapplied"] == -12_345
    unapplied = book.client.get("/admin/api/v1/receivables/unapplied", headers=book.finance).get_json()
    assert {"developer_id": book.developer_id, "unapplied_cents": 12_345} in unapplied

    nothing = book.client.post(f"/admin/api/v1/developers/{book.developer_id}/apply-unapplied",
                               headers=book.finance, json={})
    assert refusal(nothing)["code"] == "nothing_unapplied"

    book.deal()
    before = book.available()
    applied = book.client.post(f"/admin/api/v1/developers/{book.developer_id}/apply-unapplied",
                               headers=book.finance, json={})
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json() == {"applied_parts": 1, "unapplied_cents": 0}
    assert book.balances("developer", book.developer_id)["unapplied"] == 0
    assert book.balances("developer", book.developer_id)["receivable"] == COMMISSION - 12_345
    assert book.available() == before + 11_111  # 12,345 × 90%, rounded by largest remainder
    detail = book.client.get(f"/admin/api/v1/collections/{paid['id']}", headers=book.finance).get_json()
    assert [a["batch"] for a in detail["allocations"]] == [0, 1]


def test_chosen_deals_are_paid_first_and_nothing_else(book):
    older = book.deal(signed_days_ago=40)
    newer = book.deal()
    paid = book.pay(1_000_000, "CHOSEN", deal_ids=[newer])
    assert [(a["deal_id"], a["amount_cents"]) for a in paid["allocations"]] == [(newer, 1_000_000)]
    other = book.pay(1, "WRONG", expect=422, deal_ids=[older + 10_000])
    assert "deal_ids" in other["error"]["details"]["fields"]


def test_undo_is_a_correcting_transaction_and_takes_the_released_money_back(book):
    book.deal()
    paid = book.pay(COMMISSION + 500, "BANK-UNDO")
    assert book.available() == SERVING
    undo = book.client.post(f"/admin/api/v1/collections/{paid['id']}/reverse", headers=book.finance,
                            json={"reason": "银行退票"})
    assert undo.status_code == 200, undo.get_json()
    assert undo.get_json()["reversed_at"] and undo.get_json()["reverse_reason"] == "银行退票"
    assert book.available() == 0 and book.pending() == SERVING
    developer = book.balances("developer", book.developer_id)
    assert (developer["receivable"], developer["unapplied"]) == (COMMISSION, 0)
    assert book.balances("platform", 0)["cash"] == 0
    again = book.client.post(f"/admin/api/v1/collections/{paid['id']}/reverse", headers=book.finance,
                             json={"reason": "再撤一次"})
    assert refusal(again)["code"] == "collection_reversed"
    with book.app.app_context():
        kinds = [t.kind for t in db.session.scalars(select(ledger.LedgerTransaction)
                                                    .order_by(ledger.LedgerTransaction.id))]
        assert kinds[-3:] == ["commission_released", "collection_reversed", "commission_release_undone"]
        assert ledger.total(db.session) == 0
    # paying again afterwards releases it again
    book.pay(COMMISSION, "BANK-UNDO-2")
    assert book.available() == SERVING


def test_a_second_record_with_the_same_bank_reference_is_refused_and_posts_nothing(book, counts):
    book.deal()
    book.pay(100, "SAME-REF")
    before = counts()
    again = book.pay(100, "SAME-REF", expect=409)
    assert again["error"]["code"] == "duplicate_bank_reference"
    assert counts() == before


@pytest.mark.parametrize("field,value", [("amount_cents", 0), ("amount_cents", -5), ("bank_reference", ""),
                                         ("received_on", "2999-01-01")])
def test_bad_collections_are_refused_naming_the_field(book, counts, field, value):
    book.deal()
    before = counts()
    response = book.client.post("/admin/api/v1/collections", headers=book.finance, json={
        "developer_id": book.developer_id, "amount_cents": 100, "received_on": today().isoformat(),
        "bank_reference": "X-1", field: value})
    assert response.status_code == 422 and field in response.get_json()["error"]["details"]["fields"]
    assert counts() == before


def test_operations_and_site_staff_cannot_record_collections(book, world):
    for role in ("operations", "site_staff"):
        response = book.client.post("/admin/api/v1/collections", headers=world.staff_auth(role), json={
            "developer_id": book.developer_id, "amount_cents": 100, "received_on": today().isoformat(),
            "bank_reference": f"R-{role}"})
        assert response.status_code == 403


def test_advance_terms_make_lines_available_n_days_after_recognition_without_payment(book):
    set_terms = book.client.put(f"/admin/api/v1/developers/{book.developer_id}/contract", headers=book.finance,
                                json={"payable_when": "advance", "advance_days": 3})
    assert set_terms.status_code == 200, set_terms.get_json()
    book.deal()
    with book.app.app_context():
        assert releases.sweep(db.session, now=now() + timedelta(days=2)) == 0
        commit(db.session)
    assert book.available() == 0
    with book.app.app_context():
        assert releases.sweep(db.session, now=now() + timedelta(days=3, minutes=1)) == 1
        commit(db.session)
        assert releases.sweep(db.session, now=now() + timedelta(days=4)) == 0  # idempotent
        commit(db.session)
    assert book.available() == SERVING and book.pending() == 0


def test_pay_when_paid_lines_stay_pending_without_the_developers_money(book):
    book.deal(signed_days_ago=200)
    with book.app.app_context():
        assert releases.sweep(db.session, now=now() + timedelta(days=400)) == 0
        commit(db.session)
    assert book.available() == 0 and book.pending() == SERVING


def test_an_open_dispute_holds_the_deal_until_it_closes_then_the_sweep_releases_it(book, world):
    deal = book.deal()
    from estate_platform.deals.models import Deal
    from estate_platform.disputes import services as disputes
    from estate_platform.disputes.services import Actor
    with book.app.app_context():
        row = db.session.get(Deal, deal)
        dispute, _ = disputes.open_dispute(db.session, source="manual", source_key=f"manual:test-{deal}",
                                           project_id=row.project_id, buyer_id=row.buyer_id,
                                           registration_id=row.registration_id, deal_id=deal,
                                           respondent_kind="consultant", respondent_consultant_id=row.consultant_id,
                                           subject="测试争议", summary="测试", now=now())
        commit(db.session)
        dispute_id = dispute.id
    book.pay(COMMISSION, "HELD")
    assert book.available() == 0 and book.pending() == SERVING
    with book.app.app_context():
        assert releases.sweep(db.session, now=now()) == 0
        disputes.withdraw(db.session, dispute_id, reason="误报", actor=Actor("system", None), now=now())
        commit(db.session)
        assert releases.sweep(db.session, now=now()) == 1
        commit(db.session)
        assert db.session.scalar(select(CommissionRelease.reason).where(CommissionRelease.deal_id == deal)) == "sweep"
    assert book.available() == SERVING


def test_statement_and_aging_list_the_receivables_and_payments(book):
    book.deal(signed_days_ago=45)  # due 15 days ago
    book.deal()
    book.pay(1_000_000, "STMT-1")
    aging = book.client.get(f"/admin/api/v1/receivables/aging?developer_id={book.developer_id}",
                            headers=book.finance).get_json()
    (row,) = aging["rows"]
    assert row["buckets"]["d1_30"] == COMMISSION - 1_000_000 and row["buckets"]["current"] == COMMISSION
    period = f"period_from={(today() - timedelta(days=60)).isoformat()}&period_to={today().isoformat()}"
    statement = book.client.get(f"/admin/api/v1/developers/{book.developer_id}/statement?{period}",
                                headers=book.finance).get_json()
    assert (statement["opening_cents"], statement["receivable_cents"], statement["paid_cents"],
            statement["closing_cents"]) == (0, 2 * COMMISSION, 1_000_000, 2 * COMMISSION - 1_000_000)
    answer = book.client.post(f"/admin/api/v1/developers/{book.developer_id}/statement-responses",
                              headers=book.finance, json={
                                  "period_from": (today() - timedelta(days=60)).isoformat(),
                                  "period_to": today().isoformat(), "response": "objected",
                                  "responded_on": today().isoformat(), "note": "第二套房佣金比例有异议"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["balance_cents"] == 2 * COMMISSION - 1_000_000


def test_invoices_are_unique_by_number_and_a_collection_names_its_invoice(book):
    body = {"developer_id": book.developer_id, "number": "INV-2026-001", "issued_on": today().isoformat(),
            "amount_cents": COMMISSION, "tax_rate_bps": 600}
    created = book.client.post("/admin/api/v1/developer-invoices", headers=book.finance, json=body)
    assert created.status_code == 201, created.get_json()
    again = book.client.post("/admin/api/v1/developer-invoices", headers=book.finance, json=body)
    assert refusal(again)["code"] == "invoice_number_taken"
    book.deal()
    book.pay(COMMISSION, "INV-PAY", invoice_id=created.get_json()["id"])
    listed = book.client.get("/admin/api/v1/developer-invoices", headers=book.finance).get_json()
    row = next(i for i in listed["items"] if i["number"] == "INV-2026-001")
    assert row["paid_cents"] == COMMISSION


@pytest.mark.postgres
def test_two_collections_at_once_never_apply_more_than_the_receivable(book):
    book.deal()
    body = {"developer_id": book.developer_id, "amount_cents": COMMISSION, "received_on": today().isoformat()}
    outcome = parallel(book.app, [
        lambda c, i=i: c.post("/admin/api/v1/collections", headers=book.finance,
                              json={**body, "bank_reference": f"PAR-{i}"}) for i in range(4)])
    assert outcome == {(201, None): 4}
    developer = book.balances("developer", book.developer_id)
    assert developer["receivable"] == 0 and developer["unapplied"] == -3 * COMMISSION
    assert book.available() == SERVING
    with book.app.app_context():
        assert ledger.total(db.session) == 0


def test_the_hourly_task_releases_advance_lines_that_came_due(book):
    book.client.put(f"/admin/api/v1/developers/{book.developer_id}/contract", headers=book.finance,
                    json={"payable_when": "advance", "advance_days": 0})
    book.deal()
    from estate_platform.receivables.tasks import release_due_task
    with book.app.app_context():
        assert release_due_task.apply().get() == 1
        assert release_due_task.apply().get() == 0
    assert book.available() == SERVING


MY_OPERATIONS = [("get", "/admin/api/v1/collections"), ("post", "/admin/api/v1/collections"),
                 ("get", "/admin/api/v1/collections/{c}"), ("post", "/admin/api/v1/collections/{c}/reverse"),
                 ("get", "/admin/api/v1/receivables/unapplied"), ("get", "/admin/api/v1/receivables/aging"),
                 ("get", "/admin/api/v1/developers/{d}/receivables"),
                 ("post", "/admin/api/v1/developers/{d}/apply-unapplied"),
                 ("get", "/admin/api/v1/developers/{d}/contract"), ("put", "/admin/api/v1/developers/{d}/contract"),
                 ("get", "/admin/api/v1/developer-invoices"), ("post", "/admin/api/v1/developer-invoices"),
                 ("get", "/admin/api/v1/developers/{d}/statement?period_from=2026-01-01&period_to=2026-01-31"),
                 ("post", "/admin/api/v1/developers/{d}/statement-responses")]


def test_every_collections_operation_refuses_other_roles_and_anonymous_callers(book, world, counts):
    paid = book.pay(100, "ROLE-REF")
    others = {role: world.staff_auth(role) for role in ("operations", "site_staff")}
    before = counts()
    for method, template in MY_OPERATIONS:
        path = template.format(c=paid["id"], d=book.developer_id)
        for role, headers in others.items():
            response = getattr(book.client, method)(path, headers=headers, json={})
            assert response.status_code == 403, (method, path, role)
            assert response.get_json()["error"]["code"] == "role_forbidden"
        assert getattr(book.client, method)(path, json={}).status_code == 401, (method, path)
    assert counts() == before
