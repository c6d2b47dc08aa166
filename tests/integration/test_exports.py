"""Excel exports (issue 13 §3, DESIGN §5a): ``GET /admin/api/v1/exports/{kind}`` and the page
links. Every file opens with openpyxl, has Chinese headers in a frozen first row, money as 元
numbers with two decimals, real dates, masked phones, the page's filters, and the kind's roles."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from urllib.parse import unquote

import openpyxl
import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.ledger.models import Posting
from tests.integration.test_admin_deals_pages import sign_in, today

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == XLSX
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    return book.worksheets[0]


def rows(sheet) -> list[tuple]:
    return list(sheet.iter_rows(values_only=True))


def column(sheet, header: str) -> list:
    table = rows(sheet)
    index = table[0].index(header)
    return [r[index] for r in table[1:]]


@pytest.fixture
def market(world):
    """Two projects; buyer 周先生 (13912345678) bought 1-101 in 金陵府 for 3,000,000.00 (signed,
    2% rule → commission 60,000.00, recognised); buyer 钱女士 is only registered in 滨江苑."""
    consultant = world.operating_consultant(name="丙")
    project = world.project(name="金陵府")
    other = world.project(name="滨江苑", city="苏州")
    world.commission_rule(project)
    world.split_policy()
    world.register(consultant, project, phone="13912345678", name="周先生")
    world.register(consultant, other, phone="13987654321", name="钱女士")
    deal = world.deal(project, "13912345678", unit="1-101", price_cents=300_000_012)
    world.stage(deal["id"], "signed")
    return {"consultant": consultant, "project": project, "other": other, "deal": deal}


def test_registrations_export_has_chinese_headers_a_frozen_row_masked_phones_and_real_dates(world, client, market):
    response = client.get("/admin/api/v1/exports/registrations", headers=world.staff_auth("operations"))
    sheet = workbook(response)
    header = rows(sheet)[0]
    assert header[:4] == ("报备编号", "报备时间", "楼盘", "城市") and "手机号（脱敏）" in header
    assert sheet.freeze_panes == "A2"
    assert sorted(column(sheet, "手机号（脱敏）")) == ["139****4321", "139****5678"]
    body = response.get_data()
    assert b"13912345678" not in body and b"13987654321" not in body
    assert all(isinstance(v, datetime) for v in column(sheet, "报备时间"))
    assert set(column(sheet, "状态")) == {"已报备"}
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="registrations-')
    assert unquote(disposition.split("filename*=UTF-8''")[1]).startswith("报备记录-")
    assert response.headers["X-Export-Rows"] == "2"


def test_registrations_export_respects_the_list_pages_filters(world, client, market):
    auth = world.staff_auth("operations")
    sheet = workbook(client.get(f"/admin/api/v1/exports/registrations?project_id={market['other']}", headers=auth))
    assert column(sheet, "楼盘") == ["滨江苑"]
    sheet = workbook(client.get("/admin/api/v1/exports/registrations?status=expired", headers=auth))
    assert rows(sheet) == [rows(sheet)[0]]  # the header only
    sheet = workbook(client.get(f"/admin/api/v1/exports/registrations?created_from={today()}&created_to={today()}",
                                headers=auth))
    assert len(column(sheet, "楼盘")) == 2
    sheet = workbook(client.get("/admin/api/v1/exports/registrations?created_to=2020-01-01", headers=auth))
    assert column(sheet, "楼盘") == []


def test_deals_export_has_money_in_yuan_with_two_decimals_and_dates_as_dates(world, client, market):
    sheet = workbook(client.get("/admin/api/v1/exports/deals", headers=world.staff_auth("finance")))
    (price,) = column(sheet, "成交价（元）")
    assert Decimal(str(price)) == Decimal("3000000.12")
    assert column(sheet, "佣金（元）") == [60000.0]
    price_cell = sheet.cell(row=2, column=rows(sheet)[0].index("成交价（元）") + 1)
    assert price_cell.number_format == "#,##0.00"
    assert column(sheet, "认购日期")[0] == datetime.fromisoformat(today())
    assert column(sheet, "手机号（脱敏）") == ["139****5678"]
    assert column(sheet, "阶段") == ["网签"] and column(sheet, "佣金已确认") == ["是"]
    empty = workbook(client.get("/admin/api/v1/exports/deals?stage=cancelled", headers=world.staff_auth("finance")))
    assert column(empty, "成交编号") == []


def test_commission_lines_export_sums_to_the_deals_commission(world, client, market):
    sheet = workbook(client.get(f"/admin/api/v1/exports/commission-lines?deal_id={market['deal']['id']}",
                                headers=world.staff_auth("finance")))
    amounts = [Decimal(str(v)) for v in column(sheet, "金额（元）")]
    assert sum(amounts) == Decimal("60000.00")
    assert set(column(sheet, "角色")) >= {"平台服务费", "成交顾问"}
    assert "丙" in column(sheet, "参与方")


def test_postings_export_balances_to_zero_and_matches_the_ledger(world, client, app, market):
    sheet = workbook(client.get("/admin/api/v1/exports/postings", headers=world.staff_auth("finance")))
    amounts = [Decimal(str(v)) for v in column(sheet, "金额（元，借正贷负）")]
    with app.app_context():
        count, total_abs = db.session.execute(select(func.count(), func.sum(func.abs(Posting.amount_cents)))).one()
    assert len(amounts) == count and count > 0
    assert sum(amounts) == 0
    assert sum(abs(a) for a in amounts) * 100 == total_abs
    debits = [Decimal(str(v)) for v in column(sheet, "借方（元）") if v is not None]
    credits = [Decimal(str(v)) for v in column(sheet, "贷方（元）") if v is not None]
    assert sum(debits) == sum(credits) > 0
    only = workbook(client.get("/admin/api/v1/exports/postings?account_kind=receivable",
                               headers=world.staff_auth("finance")))
    assert set(column(only, "科目")) == {"应收佣金"}


@pytest.mark.parametrize("kind, allowed", [("registrations", {"admin", "operations"}),
                                           ("deals", {"admin", "finance"}),
                                           ("commission-lines", {"admin", "finance"}),
                                           ("postings", {"admin", "finance"})])
def test_each_kind_is_refused_to_roles_it_does_not_allow(world, client, kind, allowed):
    for role in ("admin", "finance", "operations", "site_staff"):
        response = client.get(f"/admin/api/v1/exports/{kind}", headers=world.staff_auth(role))
        assert response.status_code == (200 if role in allowed else 403), (role, response.get_data(as_text=True))
    assert client.get(f"/admin/api/v1/exports/{kind}").status_code == 401


def test_unknown_kind_is_404_with_a_stable_code_and_bad_filters_are_422(world, client):
    auth = world.staff_auth("admin")
    response = client.get("/admin/api/v1/exports/everything", headers=auth)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    for query in ("stage=bogus", "project_id=0", "project_id=x", "subscribed_from=2026-13-01", "nope=1",
                  "subscribed_from=0001-01-01", "subscribed_to=9999-12-31",
                  "subscribed_from=2026-02-01&subscribed_to=2026-01-01"):
        response = client.get(f"/admin/api/v1/exports/deals?{query}", headers=auth)
        assert response.status_code == 422, query
        assert response.get_json()["error"]["code"] == "validation_error"


def test_the_page_link_downloads_with_the_session_and_checks_the_kinds_roles(world, client, market):
    sign_in(world, client, "operations")
    sheet = workbook(client.get(f"/admin/exports/registrations?project_id={market['project']}&status="))
    assert column(sheet, "楼盘") == ["金陵府"]
    assert client.get("/admin/exports/deals").status_code == 403
    unknown = client.get("/admin/exports/everything")
    assert unknown.status_code == 404 and "export_kind_unknown" in unknown.get_data(as_text=True)
    assert client.get("/admin/exports/registrations?status=bogus").status_code == 422


def test_list_pages_link_their_export_with_the_current_filters(world, client, market):
    sign_in(world, client, "admin")
    page = client.get("/admin/registrations/?status=reported").get_data(as_text=True)
    assert "/admin/exports/registrations?status=reported" in page
    page = client.get(f"/admin/deals/?project_id={market['project']}&stage=signed").get_data(as_text=True)
    assert "/admin/exports/deals?" in page and f"project_id={market['project']}" in page
    assert "/admin/exports/commission-lines?" in page
    page = client.get("/admin/finance/ledger").get_data(as_text=True)
    assert "/admin/exports/postings" in page
