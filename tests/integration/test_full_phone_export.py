"""The full-phone export (完整号码导出, issue 13 §3, issue 15 §1): a separate action for the roles
allowed to call buyers (the reveal rule), on kinds that hold buyers' phones, naming a purpose;
each export writes one logged record (kind, filters, row count, purpose), by the direct download
and by a background job alike. Every other export stays masked."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.exports.models import PhoneExportReveal
from estate_platform.privacy.reveals import PLATFORM_REVEALERS
from estate_platform.registrations.models import PhoneReveal
from tests.integration.api_scene import csrf_from
from tests.integration.test_admin_deals_pages import sign_in
from tests.integration.test_exports import column, market, rows, workbook  # noqa: F401  (the fixture)

EXPORTS = "/admin/api/v1/exports"
JOBS = "/admin/api/v1/export-jobs"


def logs(app) -> list[PhoneExportReveal]:
    with app.app_context():
        found = db.session.scalars(select(PhoneExportReveal).order_by(PhoneExportReveal.id)).all()
        db.session.expunge_all()
        return found


def test_the_roles_allowed_are_the_reveal_rules_platform_revealers():
    from estate_platform.exports.phones import may_export_full_phones
    assert PLATFORM_REVEALERS == ("admin", "operations")
    assert [role for role in ("admin", "finance", "operations", "site_staff") if may_export_full_phones(role)] \
        == list(PLATFORM_REVEALERS)


def test_operations_download_registrations_with_full_phones_and_one_record_is_logged(world, client, app, market):
    response = client.get(f"{EXPORTS}/registrations?full_phones=true&purpose=回访核实购房意向"
                          f"&project_id={market['project']}", headers=world.staff_auth("operations"))
    sheet = workbook(response)
    assert "手机号（完整）" in rows(sheet)[0] and "手机号（脱敏）" not in rows(sheet)[0]
    assert column(sheet, "手机号（完整）") == ["13912345678"]
    assert "%E5%AE%8C%E6%95%B4%E5%8F%B7%E7%A0%81" in response.headers["Content-Disposition"]  # 完整号码
    (record,) = logs(app)
    assert (record.kind, record.row_count, record.purpose, record.job_id) == ("registrations", 1, "回访核实购房意向", None)
    assert record.filters == {"project_id": market["project"]}
    with app.app_context():  # the per-buyer reveal log is not where a bulk export goes
        assert db.session.scalar(select(func.count(PhoneReveal.id))) == 0


def test_the_ordinary_export_stays_masked_and_logs_nothing(world, client, app, market):
    sheet = workbook(client.get(f"{EXPORTS}/registrations", headers=world.staff_auth("operations")))
    assert sorted(column(sheet, "手机号（脱敏）")) == ["139****4321", "139****5678"]
    sheet = workbook(client.get(f"{EXPORTS}/registrations?full_phones=false&purpose=x",
                                headers=world.staff_auth("operations")))
    assert "手机号（脱敏）" in rows(sheet)[0]
    assert logs(app) == []


def test_an_admin_may_export_deals_with_full_phones(world, client, app, market):
    sheet = workbook(client.get(f"{EXPORTS}/deals?full_phones=1&purpose=核对网签客户", headers=world.staff_auth("admin")))
    assert column(sheet, "手机号（完整）") == ["13912345678"]
    assert [(r.kind, r.row_count) for r in logs(app)] == [("deals", 1)]


def test_finance_may_export_deals_but_not_their_full_phones(world, client, app, counts, market):
    auth = world.staff_auth("finance")
    before = counts()
    response = client.get(f"{EXPORTS}/deals?full_phones=true&purpose=对账", headers=auth)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "full_phone_export_forbidden"
    response = client.post(JOBS, json={"kind": "deals", "full_phones": True, "purpose": "对账"}, headers=auth)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "full_phone_export_forbidden"
    assert counts() == before


@pytest.mark.parametrize("query", ["", "&purpose=", "&purpose=%20%20"], ids=["missing", "empty", "blank"])
def test_a_full_phone_export_without_a_purpose_is_422(world, client, app, counts, market, query):
    auth = world.staff_auth("operations")
    before = counts()
    response = client.get(f"{EXPORTS}/registrations?full_phones=true{query}", headers=auth)
    assert response.status_code == 422
    assert "purpose" in response.get_json()["error"]["details"]["fields"]
    response = client.post(JOBS, json={"kind": "registrations", "full_phones": True}, headers=auth)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"purpose"}
    assert counts() == before


def test_a_kind_without_buyer_phones_has_no_full_phone_export(world, client, app, market):
    auth = world.staff_auth("admin")
    response = client.get(f"{EXPORTS}/postings?full_phones=true&purpose=x", headers=auth)
    assert response.status_code == 422  # not a parameter of that kind
    response = client.post(JOBS, json={"kind": "postings", "full_phones": True, "purpose": "核对"}, headers=auth)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"full_phones"}
    assert logs(app) == []


def test_a_full_phone_job_writes_full_phones_and_logs_once_however_often_it_is_downloaded(world, client, app, market):
    auth = world.staff_auth("operations")
    started = client.post(JOBS, json={"kind": "registrations", "full_phones": True, "purpose": "  回访  "}, headers=auth)
    assert started.status_code == 202, started.get_json()
    job = client.get(f"{JOBS}/{started.get_json()['id']}", headers=auth).get_json()
    assert job["status"] == "done" and job["full_phones"] is True and job["purpose"] == "回访"
    assert "完整号码" in job["filename"]
    for _ in range(2):
        sheet = workbook(client.get(job["download_url"], headers=auth))
        assert sorted(column(sheet, "手机号（完整）")) == ["13912345678", "13987654321"]
    (record,) = logs(app)
    assert (record.kind, record.row_count, record.purpose, record.job_id) == ("registrations", 2, "回访", job["id"])
    from estate_platform.exports.tasks import run_export_job_task
    with app.app_context():
        assert run_export_job_task.run(job["id"]) == "done"  # a re-delivered task changes nothing
    assert len(logs(app)) == 1


def test_a_failed_full_phone_job_logs_nothing(world, client, app, market, monkeypatch):
    import dataclasses

    from estate_platform.exports import REGISTRY
    kind = REGISTRY["registrations"]

    def broken(session, filters):
        raise RuntimeError("boom")
        yield  # pragma: no cover
    monkeypatch.setitem(REGISTRY, "registrations", dataclasses.replace(kind, full_phone_rows=broken))
    auth = world.staff_auth("operations")
    job_id = client.post(JOBS, json={"kind": "registrations", "full_phones": True, "purpose": "回访"},
                         headers=auth).get_json()["id"]
    assert client.get(f"{JOBS}/{job_id}", headers=auth).get_json()["status"] == "failed"
    assert logs(app) == []


def test_the_page_offers_the_full_phone_export_with_a_purpose_to_operations(world, client, app, market):
    sign_in(world, client, "operations")
    page = client.get("/admin/exports/jobs").get_data(as_text=True)
    assert 'id="full-phone-form"' in page and "用途（必填，将被记录）" in page
    csrf = csrf_from(page)
    refused = client.post("/admin/exports/jobs", headers={"Accept": "application/json"},
                          data={"csrf_token": csrf, "kind": "registrations", "full_phones": "1", "purpose": ""})
    assert refused.status_code == 422 and "purpose" in refused.get_json()["error"]["details"]["fields"]
    response = client.post("/admin/exports/jobs", data={"csrf_token": csrf, "kind": "registrations",
                                                        "full_phones": "1", "purpose": "回访"})
    assert response.status_code == 302
    listing = client.get("/admin/exports/jobs").get_data(as_text=True)
    assert "完整号码" in listing and "已完成" in listing
    assert [(r.kind, r.purpose, r.row_count) for r in logs(app)] == [("registrations", "回访", 2)]


def test_the_admin_log_page_lists_full_phone_exports_by_staff_member(world, client, app, market):
    auth = world.staff_auth("operations")
    workbook(client.get(f"{EXPORTS}/registrations?full_phones=true&purpose=回访核实&status=reported", headers=auth))
    sign_in(world, client, "admin")
    reveals = client.get("/admin/privacy/reveals").get_data(as_text=True)
    assert "/admin/exports/full-phone-log" in reveals
    page = client.get("/admin/exports/full-phone-log")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:300]
    assert "报备记录" in html and "回访核实" in html and "状态 reported" in html and "直接下载" in html
    assert "测试operations" in html


def test_the_log_page_is_for_admins_only(world, client, app, market):
    sign_in(world, client, "operations")
    assert client.get("/admin/exports/full-phone-log").status_code == 403
