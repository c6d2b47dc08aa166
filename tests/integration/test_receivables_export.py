"""The receivables export (应收明细) is what the developer owes in the ledger: every recognised
deal's commission and every stake a dispute upheld against him, less what standing collections
applied (issue 13 §3: every export's totals match the ledger; issue 12: stakes are receivables)."""
from __future__ import annotations

import pytest

from tests.integration.test_disputes import approve, balances, open_against_developer, propose
from tests.integration.dispute_scene import COMMISSION, build_market, staff_member, today
from tests.integration.test_exports import column, workbook

ADMIN = "/admin/api/v1"


@pytest.fixture
def market(world):
    return build_market(world)


def owed_in_ledger(app, developer_id: int) -> int:
    return balances(app, "developer", developer_id).get("receivable", 0)


def export(world, **filters):
    response = world.client.get(f"{ADMIN}/exports/receivables", headers=world.staff_auth("finance"),
                                query_string=filters)
    assert response.status_code == 200, response.get_json()
    return workbook(response)


def test_deals_and_stakes_less_collections_sum_to_the_developers_receivable(app, world, market):
    (maker, _), (checker, _) = (staff_member(world, "operations", "运营小李"),
                                staff_member(world, "operations", "运营老王"))
    dispute_id = open_against_developer(app, market)
    approve(app, checker, dispute_id, propose(app, maker, dispute_id))
    paid = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": market.developer_id, "amount_cents": COMMISSION // 3, "received_on": today().isoformat(),
        "bank_reference": "RX-1", "dispute_ids": [dispute_id]})
    assert paid.status_code == 201, paid.get_json()

    sheet = export(world, developer_id=market.developer_id)
    sources = column(sheet, "来源")
    assert f"争议 #{dispute_id}" in sources and f"成交 #{market.deal}" in sources
    owed = column(sheet, "未回款（元）")
    total_cents = round(sum(owed) * 100)
    assert total_cents == owed_in_ledger(app, market.developer_id) > 0
    stake_row = sources.index(f"争议 #{dispute_id}")
    assert round(column(sheet, "已回款（元）")[stake_row] * 100) == COMMISSION // 3
    assert round(owed[stake_row] * 100) == COMMISSION - COMMISSION // 3

    # Paid in full, the stake leaves the "only open" export and the totals still match.
    world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": market.developer_id, "amount_cents": COMMISSION - COMMISSION // 3,
        "received_on": today().isoformat(), "bank_reference": "RX-2", "dispute_ids": [dispute_id]})
    open_only = export(world, developer_id=market.developer_id, open="open")
    assert f"争议 #{dispute_id}" not in column(open_only, "来源")
    assert round(sum(column(open_only, "未回款（元）")) * 100) == owed_in_ledger(app, market.developer_id)
