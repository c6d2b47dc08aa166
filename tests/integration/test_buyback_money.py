"""Buy-back money after approval (issue 13 §1): the remainder paid when the developer pays, the
discount realised, recourse on cancellation, and collection packages following the payments."""
from __future__ import annotations

import io

from sqlalchemy import select

from estate_platform.buyback import packages, services
from estate_platform.buyback.models import BuybackLine
from estate_platform.db import db
from estate_platform.deals.models import Deal
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction
from tests.conftest import now
from tests.integration.test_buyback import ADMIN, MP, approve, quote, request, set_settings, signed_line


def bought(world):
    sold = signed_line(world)
    set_settings(world, second_approver_cents=100_000_000)
    q = quote(world, sold)
    r = approve(world, request(world, sold, q["id"])["id"], world.staff_auth("finance"))
    return sold, q, r


def test_the_developers_payment_pays_the_remainder_and_realises_the_discount_in_proportion_once(world, app):
    sold, q, r = bought(world)
    c = sold.consultant.id
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents  # 6,000,000: fee + his line
        half = services.on_collected(db.session, sold.deal_id, commission // 2, now(), ref="alloc-1")
        assert half == q["remainder_cents"] // 2
        assert services.on_collected(db.session, sold.deal_id, commission // 2, now(), ref="alloc-1") == 0  # replay
        db.session.commit()
        mine = ledger.balances(db.session, "consultant", c)
        assert mine["remainder"] == -(q["remainder_cents"] - half)
        assert mine["available"] == -(q["advance_cents"] + half)
        platform = ledger.balances(db.session, "platform", 0)
        realised = q["discount_cents"] // 2
        assert platform["purchased"] == -(q["discount_cents"] - realised)
        line = db.session.scalar(select(BuybackLine).where(BuybackLine.request_id == r["id"]))
        assert (line.status, line.collection_state, line.discount_realised_cents) == ("purchased", "partly", realised)
        rest = services.on_collected(db.session, sold.deal_id, commission - commission // 2, now(), ref="alloc-2")
        db.session.commit()
        assert half + rest == q["remainder_cents"]
        mine = ledger.balances(db.session, "consultant", c)
        assert (mine["pending"], mine["remainder"], mine["available"]) == (0, 0, -(q["advance_cents"]
                                                                                  + q["remainder_cents"]))
        assert ledger.balances(db.session, "platform", 0)["purchased"] == 0
        line = db.session.get(BuybackLine, line.id)
        assert (line.status, line.collected_cents, line.remainder_paid_cents) == ("collected", q["face_cents"],
                                                                                  q["remainder_cents"])
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
    listed = world.client.get(f"{MP}/buyback/requests", headers=sold.consultant.auth).get_json()["items"][0]
    assert listed["remainder_paid_cents"] == q["remainder_cents"] and listed["lines"][0]["status"] == "collected"


def test_a_cancelled_bought_deal_turns_the_advance_into_money_he_owes_and_the_ledger_balances(world, app):
    sold, q, r = bought(world)
    response = world.client.post(f"{ADMIN}/deals/{sold.deal_id}/cancel", json={"reason": "客户退房"},
                                 headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        mine = ledger.balances(db.session, "consultant", sold.consultant.id)
        # The advance is still in available (not yet paid out) and is owed back: settlement nets the two.
        assert (mine["pending"], mine["remainder"], mine["owes"], mine["available"]) == (
            0, 0, q["advance_cents"], -q["advance_cents"])
        assert ledger.balances(db.session, "platform", 0)["purchased"] == 0
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        kinds = db.session.scalars(select(LedgerTransaction.kind).order_by(LedgerTransaction.id)).all()
        assert kinds == ["commission_recognised", "buyback_purchased", "commission_reversed"]
    listed = world.client.get(f"{MP}/buyback/requests", headers=sold.consultant.auth).get_json()["items"][0]
    assert listed["recourse_cents"] == q["advance_cents"] and listed["lines"][0]["status"] == "recourse"
    earnings = world.client.get(f"{MP}/earnings", headers=sold.consultant.auth).get_json()
    assert earnings["owed_cents"] == q["advance_cents"]


def test_recourse_after_a_partial_payment_takes_back_the_paid_remainder_and_the_realised_discount(world, app):
    sold, q, r = bought(world)
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents
        paid = services.on_collected(db.session, sold.deal_id, commission // 4, now(), ref="a1")
        db.session.commit()
    world.client.post(f"{ADMIN}/deals/{sold.deal_id}/cancel", json={"reason": "退房"},
                      headers=world.staff_auth("finance"))
    with app.app_context():
        mine = ledger.balances(db.session, "consultant", sold.consultant.id)
        assert (mine["remainder"], mine["owes"]) == (0, q["advance_cents"] + paid)
        platform = ledger.balances(db.session, "platform", 0)
        assert platform["purchased"] == 0
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []


def test_a_package_bundles_a_developers_bought_lines_and_its_statement_sums_to_them(world, app):
    import openpyxl
    sold, q, r = bought(world)
    second = signed_line(world, project_id=sold.project_id)
    q2 = quote(world, second)
    approve(world, request(world, second, q2["id"])["id"], world.staff_auth("finance"))
    created = world.client.post(f"{ADMIN}/buyback/packages", json={"developer_id": sold.developer_id},
                                headers=world.staff_auth("finance"))
    assert created.status_code == 201, created.get_json()
    package = created.get_json()
    assert len(package["lines"]) == 2 and package["face_cents"] == q["face_cents"] + q2["face_cents"]
    again = world.client.post(f"{ADMIN}/buyback/packages", json={"developer_id": sold.developer_id},
                              headers=world.staff_auth("finance"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "buyback_nothing_to_package"
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents
        services.on_collected(db.session, sold.deal_id, commission, now(), ref="full")
        db.session.commit()
        st = packages.statement(db.session, package["id"])
        assert st.face_cents == sum(line.face_cents for line in st.lines) == package["face_cents"]
        assert st.collected_cents == q["face_cents"] and st.state == "partly"
        book = openpyxl.load_workbook(io.BytesIO(packages.statement_xlsx(st)))
        sheet = book.active
        rows = list(sheet.iter_rows(min_row=4, values_only=True))
        assert [row[8] for row in rows[:2]] == ["已回款", "未回款"]
        assert rows[2][0] == "合计" and round(rows[2][5] * 100) == st.face_cents
        assert round(sum(row[5] for row in rows[:2]) * 100) == st.face_cents
        assert sheet.freeze_panes == "A4"
    exported = world.client.get(f"{ADMIN}/exports/packages?developer_id={sold.developer_id}",
                                headers=world.staff_auth("finance"))
    assert exported.status_code == 200, exported.get_data(as_text=True)[:300]
    sheet = openpyxl.load_workbook(io.BytesIO(exported.data)).active
    exported_rows = [row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] is not None]
    assert len(exported_rows) == 2 and sheet.cell(1, 9).value == "应收面值（元）"
    assert round(sum(row[8] for row in exported_rows) * 100) == package["face_cents"]
    assert round(sum(row[9] for row in exported_rows) * 100) == q["face_cents"]  # what the developer paid
    sent = world.client.post(f"{ADMIN}/buyback/packages/{package['id']}/send", json={},
                             headers=world.staff_auth("finance"))
    assert sent.status_code == 200 and sent.get_json()["status"] == "sent"
    book_view = world.client.get(f"{ADMIN}/buyback/book", headers=world.staff_auth("finance")).get_json()
    assert book_view["outstanding_face_cents"] == q2["face_cents"]
    assert book_view["realised_income_cents"] == q["discount_cents"]
    assert book_view["cost_cents"] == q2["advance_cents"]


def test_a_collection_recorded_by_finance_pays_the_remainder_not_the_bought_pending(world, app):
    """The collections path (回款) calls on_collected for a bought deal: the consultant's bought line
    is not released from pending again; his remainder becomes available instead."""
    sold, q, r = bought(world)
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents
    response = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": sold.developer_id, "amount_cents": commission, "received_on": now().date().isoformat(),
        "bank_reference": "BB-0001"})
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        mine = ledger.balances(db.session, "consultant", sold.consultant.id)
        assert (mine["pending"], mine["remainder"], mine["available"]) == (
            0, 0, -(q["advance_cents"] + q["remainder_cents"]))
        assert ledger.balances(db.session, "platform", 0)["purchased"] == 0
        line = db.session.scalar(select(BuybackLine).where(BuybackLine.request_id == r["id"]))
        assert line.status == "collected" and line.discount_realised_cents == q["discount_cents"]
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
