"""The collections and receivables admin pages (回款、应收账龄、发票、对账函、结算条件) over the test
client: finance records, sees the allocation, undoes it, downloads the statement as XLSX with
amounts as numbers; other roles are refused."""
from __future__ import annotations

from io import BytesIO

import openpyxl

from tests.integration.test_admin_deals_pages import sign_in
from tests.integration.test_collections import COMMISSION, SERVING, Book, today
from tests.integration.test_staff_auth import csrf_from


def token(client, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def test_finance_records_sees_the_allocation_and_undoes_a_collection_in_the_pages(world, client):
    book = Book(world)
    deal = book.deal(signed_days_ago=40)
    sign_in(world, client, "finance")
    form = client.get(f"/admin/collections/new?developer_id={book.developer_id}").get_data(as_text=True)
    assert f"成交 #{deal}" in form and "60,000.00" in form
    response = client.post("/admin/collections/new", data={
        "csrf_token": csrf_from(form), "developer_id": str(book.developer_id), "amount": "60000.50",
        "received_on": today().isoformat(), "bank_reference": "工行-0001"})
    assert response.status_code == 302, response.get_data(as_text=True)
    detail_url = response.headers["Location"]
    detail = client.get(detail_url).get_data(as_text=True)
    assert "¥60,000.00" in detail and "未核销" in detail and "¥0.50" in detail
    assert book.available() == SERVING

    listed = client.get("/admin/collections/").get_data(as_text=True)
    assert "工行-0001" in listed and "/admin/exports/collections" in listed
    unapplied = client.get("/admin/collections/unapplied").get_data(as_text=True)
    assert "¥0.50" in unapplied

    undo = client.post(f"{detail_url}/reverse", data={"csrf_token": token(client, detail_url), "reason": "重复登记"})
    assert undo.status_code == 302
    assert "已撤销" in client.get(detail_url).get_data(as_text=True)
    assert book.available() == 0


def test_a_bad_amount_is_shown_next_to_the_field_and_records_nothing(world, client, counts):
    book = Book(world)
    sign_in(world, client, "finance")
    page = "/admin/collections/new"
    before = counts()
    response = client.post(page, data={"csrf_token": token(client, page), "developer_id": str(book.developer_id),
                                       "amount": "12.345", "received_on": today().isoformat(),
                                       "bank_reference": "X"})
    assert response.status_code == 422 and "最多保留两位小数" in response.get_data(as_text=True)
    assert counts() == before


def test_statement_page_xlsx_and_the_developers_answer(world, client):
    book = Book(world)
    book.deal()
    book.pay(1_000_000, "STMT-PAGE")
    sign_in(world, client, "finance")
    query = (f"developer_id={book.developer_id}&period_from={today().replace(day=1).isoformat()}"
             f"&period_to={today().isoformat()}")
    page = client.get(f"/admin/receivables/statements?{query}").get_data(as_text=True)
    assert "对账函" in page and "¥50,000.00" in page  # closing balance 60,000 − 10,000
    download = client.get(f"/admin/receivables/statements.xlsx?{query}")
    assert download.status_code == 200
    sheet = openpyxl.load_workbook(BytesIO(download.data)).active
    cells = {(c.row, c.column): c for row in sheet.iter_rows() for c in row if c.value is not None}
    headers = [c.value for c in cells.values() if isinstance(c.value, str)]
    assert "应收佣金（元）" in headers and "银行流水号" in headers
    amounts = [c for c in cells.values() if c.number_format == "#,##0.00"]
    assert amounts and all(isinstance(c.value, (int, float)) for c in amounts)
    assert COMMISSION / 100 in [c.value for c in amounts] and 50_000 in [c.value for c in amounts]
    answer = client.post("/admin/receivables/statements/respond", data={
        "csrf_token": csrf_from(page), "developer_id": str(book.developer_id),
        "period_from": today().replace(day=1).isoformat(), "period_to": today().isoformat(),
        "response": "confirmed", "responded_on": today().isoformat(), "note": ""})
    assert answer.status_code == 302
    assert "已确认" in client.get(f"/admin/receivables/statements?{query}").get_data(as_text=True)


def test_aging_invoices_and_contracts_pages(world, client):
    book = Book(world)
    book.deal(signed_days_ago=45)
    sign_in(world, client, "finance")
    aging = client.get("/admin/receivables/aging").get_data(as_text=True)
    assert "<svg" in aging and "逾期 1–30 天" in aging and "¥60,000.00" in aging
    page = "/admin/receivables/invoices"
    created = client.post(page, data={"csrf_token": token(client, page), "developer_id": str(book.developer_id),
                                      "number": "FP-PAGE-1", "issued_on": today().isoformat(), "amount": "60000",
                                      "tax_rate": "6"})
    assert created.status_code == 302
    assert "FP-PAGE-1" in client.get(page).get_data(as_text=True)
    page = "/admin/receivables/contracts"
    saved = client.post(page, data={"csrf_token": token(client, page), "developer_id": str(book.developer_id),
                                    "payable_when": "advance", "advance_days": "7"})
    assert saved.status_code == 302
    assert "（7 天）" in client.get(page).get_data(as_text=True)


def test_operations_and_site_staff_cannot_open_the_collections_pages(world, client):
    for role in ("operations", "site_staff"):
        sign_in(world, client, role)
        for path in ("/admin/collections/", "/admin/receivables/aging", "/admin/receivables/statements"):
            assert client.get(path).status_code == 403
