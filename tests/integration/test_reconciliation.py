"""Reconciling a developer's sales list (销售台账对账, DESIGN §4, §5a): every category on lists
made here in each encoding and phone shape, the disputes they open (once), the remembered
mapping, the export, the restartable run and who may do it."""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from estate_platform.clock import SHANGHAI
from estate_platform.db import commit, db
from estate_platform.disputes.models import Dispute
from estate_platform.identity.models import StaffUser
from estate_platform.reconciliation import services as reconciliation
from estate_platform.reconciliation.models import DeveloperColumnMapping, SalesListRow, SalesListUpload
from estate_platform.registrations.models import Registration
from tests.conftest import AGREEMENT_TEXT, now

API = "/admin/api/v1/reconciliations"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
HEADER = ["序号", "客户姓名", "联系电话", "房号", "成交总价（万元）", "签约日期", "成交渠道"]


def today():
    return now().astimezone(SHANGHAI).date()


@dataclass
class Scene:
    project: int
    developer_id: int
    jia: object
    yi: object
    phones: dict[str, str]
    registrations: dict[str, int]
    deals: dict[str, int]


def build_scene(world) -> Scene:
    """金陵府 (2% on signing): 甲 and 乙 registered eight buyers; four of them have platform deals."""
    response = world.client.post("/admin/api/v1/agreements", headers=world.staff_auth("admin"), json={
        "title": "顾问合作协议", "text": AGREEMENT_TEXT, "penalty_fixed_cents": 500_000, "penalty_multiple_bps": 20_000})
    assert response.status_code == 201, response.get_json()
    jia = world.operating_consultant(name="甲")
    yi = world.operating_consultant(name="乙")
    project = world.project(name="金陵府")
    world.commission_rule(project)
    world.split_policy()
    phones = {
        "zhou": "13912340001",   # ok (deal 3-1201, ¥3,000,000)
        "wu": "13912340002",     # price mismatch (deal ¥2,000,000, the list says 210 万)
        "zheng": "13912340003",  # unit mismatch (deal 6-0101, the list says 6-0102)
        "wang": "13912340004",   # jumped: no deal, 乙 protects her, sold 自然到访
        "li": "13712345678",     # poached (前四后三 1371****678 + 李雷): 甲 protects him, sold through 链家
        "sun": "13811112222",    # ok through 前三后四 138****2222 + 孙七
        "qian1": "13566665555",  # ambiguous: 135****5555 and 钱八 fit both 钱先生 and 钱女士
        "qian2": "13577775555",
    }
    names = {"zhou": "周先生", "wu": "吴女士", "zheng": "郑先生", "wang": "王女士", "li": "李先生", "sun": "孙先生",
             "qian1": "钱先生", "qian2": "钱女士"}
    registrations = {}
    for key, phone in phones.items():
        who = yi if key in ("wang", "zheng", "qian2") else jia
        registrations[key] = world.register(who, project, phone=phone, name=names[key])["id"]
    deals = {"zhou": world.deal(project, phones["zhou"], price_cents=300_000_000, unit="3-1201")["id"],
             "wu": world.deal(project, phones["wu"], price_cents=200_000_000, unit="5-0801")["id"],
             "zheng": world.deal(project, phones["zheng"], price_cents=250_000_000, unit="6-0101")["id"],
             "sun": world.deal(project, phones["sun"], price_cents=180_000_000, unit="2-0202")["id"]}
    with world.app.app_context():
        from estate_platform.projects.models import Project
        developer_id = db.session.get(Project, project).developer_id
    return Scene(project, developer_id, jia, yi, phones, registrations, deals)


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


def sales_rows(scene: Scene) -> list[list[str]]:
    """The list after its header, one row per category, each phone in a different shape."""
    p = scene.phones
    day = today().isoformat()
    return [
        ["1", "周建国", f"+86 {p['zhou'][:3]}-{p['zhou'][3:7]}-{p['zhou'][7:]}", "3栋1201室", "300", day, "链家"],
        ["2", "吴丽", full_width(p["wu"]), "5-0801", "210", day, "自然到访"],
        ["3", "郑强", p["zheng"], "6-0102", "250", day, "案场"],
        ["4", "王芳", f"13600009999/{p['wang']}", "7-0701", "320.5", day, "自然到访"],
        ["5", "李雷", p["li"][:4] + "****" + p["li"][-3:], "8-0801", "400", day, "链家"],
        ["6", "孙七", p["sun"][:3] + "****" + p["sun"][-4:], "2-0202", "180", day, ""],
        ["7", "钱八", "135****5555", "9-0901", "200", day, "自访"],
        ["8", "赵六", "13500001111", "9-0902", "210", day, "贝壳"],
        ["9", "冯九", "1.38E+10", "9-0903", "220", day, "自访"],
    ]


EXPECTED = {"ok": 2, "price_mismatch": 1, "unit_mismatch": 1, "jumped": 1, "poached": 1, "ambiguous": 1,
            "unmatched": 1, "unreadable": 1}


def csv_file(rows: list[list[str]], encoding: str, newline: str = "\r\n", title: bool = True) -> bytes:
    lines = (["金陵府 销售台账"] if title else []) + [",".join(HEADER)] + [",".join(r) for r in rows] + \
        [",,,,,,", "合计,,,,2290.5,,"]
    return newline.join(lines).encode(encoding) + newline.encode(encoding)


def xlsx_file(rows: list[list[str]]) -> bytes:
    """Title rows (one merged across), the header on row 3, the 签约日期 merged down every sale
    (one date typed once for the month's block, as sales offices do), a 合计 row."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "销售台账"
    sheet["A1"] = "金陵府 2026 年销售台账"
    sheet.merge_cells("A1:G1")
    sheet["A2"] = "制表：案场"
    sheet.append(HEADER)
    for n, row in enumerate(rows):
        cells = list(row)
        cells[0] = int(cells[0])
        cells[4] = float(cells[4])
        if n:
            cells[5] = None  # the merged range's value sits in its first cell only
        sheet.append(cells)
    last = sheet.max_row
    sheet.merge_cells(f"F4:F{last}")
    sheet.append(["合计", None, None, None, 2290.5, None, None])
    sheet.merge_cells(f"A{last + 1}:D{last + 1}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(world, scene: Scene, content: bytes, filename: str, *, expect: int = 201, role: str = "operations",
           mapping: dict | None = None, period_from=None, period_to=None):
    data = {"project_id": str(scene.project), "period_from": (period_from or today() - timedelta(days=30)).isoformat(),
            "period_to": (period_to or today()).isoformat(), "file": (io.BytesIO(content), filename)}
    if mapping is not None:
        data["mapping"] = json.dumps(mapping, ensure_ascii=False)
    response = world.client.post(API, data=data, content_type="multipart/form-data", headers=world.staff_auth(role))
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def rows_by_line(world, upload_id: int, **query) -> dict[int, dict]:
    response = world.client.get(f"{API}/{upload_id}/rows", query_string={"per_page": 500, **query},
                                headers=world.staff_auth("operations"))
    assert response.status_code == 200, response.get_json()
    return {row["line"]: row for row in response.get_json()["items"]}


def dispute_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Dispute))


FILES = {
    "utf-8": lambda rows: (csv_file(rows, "utf-8", "\n"), "台账.csv", 3),
    "utf-8 with BOM": lambda rows: (csv_file(rows, "utf-8-sig"), "台账.csv", 3),
    "GB18030, CRLF": lambda rows: (csv_file(rows, "gb18030", "\r\n"), "台账.csv", 3),
    "XLSX with title rows, merged cells and 合计": lambda rows: (xlsx_file(rows), "台账.xlsx", 4),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_each_category_is_found_in_every_encoding_and_phone_shape(world, app, kind):
    scene = build_scene(world)
    content, filename, first_line = FILES[kind](sales_rows(scene))

    created = upload(world, scene, content, filename)
    result = world.client.get(f"{API}/{created['id']}", headers=world.staff_auth("operations")).get_json()
    rows = rows_by_line(world, created["id"])

    assert created["duplicate"] is False
    assert result["status"] == "done" and result["rows_total"] == result["rows_done"] == 9
    assert {k: v for k, v in result["counts"].items() if v} == EXPECTED
    line = {n: first_line + n for n in range(9)}  # the line a person sees, header above the first sale
    expected = [("ok", "exact"), ("price_mismatch", "exact"), ("unit_mismatch", "exact"), ("jumped", "exact"),
                ("poached", "masked"), ("ok", "masked"), ("ambiguous", "ambiguous"), ("unmatched", "none"),
                ("unreadable", "none")]
    assert [(rows[line[n]]["category"], rows[line[n]]["match_kind"]) for n in range(9)] == expected
    assert rows[line[0]]["deal_id"] == scene.deals["zhou"] and rows[line[5]]["deal_id"] == scene.deals["sun"]
    assert rows[line[3]]["registration_id"] == scene.registrations["wang"]
    assert rows[line[4]]["registration_id"] == scene.registrations["li"]
    assert "1.38E+10" in rows[line[8]]["raw"][2] and "科学计数法" in rows[line[8]]["reason"]
    assert "6-0102" in rows[line[2]]["reason"] and "¥2,100,000.00" in rows[line[1]]["reason"]
    # no whole phone is kept in a row
    assert rows[line[0]]["phone_masked"] == scene.phones["zhou"][:3] + "****" + scene.phones["zhou"][-4:]
    assert not any(p in json.dumps(rows, ensure_ascii=False) for p in scene.phones.values())
    assert result["disputes_opened"] == 2 and dispute_count(app) == 2


def test_jumped_and_poached_open_a_dispute_against_the_developer_for_the_protected_consultant(world, app):
    scene = build_scene(world)
    created = upload(world, scene, csv_file(sales_rows(scene), "utf-8"), "台账.csv")
    rows = rows_by_line(world, created["id"])

    with app.app_context():
        disputes = {d.registration_id: d for d in db.session.scalars(select(Dispute))}
        jumped, poached = disputes[scene.registrations["wang"]], disputes[scene.registrations["li"]]
        assert (jumped.source, jumped.source_key) == ("reconciliation",
                                                       f"reconciliation:registration:{scene.registrations['wang']}")
        assert (jumped.respondent_kind, jumped.protected_consultant_id) == ("developer", scene.yi.id)
        assert (poached.respondent_kind, poached.protected_consultant_id) == ("developer", scene.jia.id)
        assert jumped.subject.startswith("跑单") and poached.subject.startswith("撬单") and "链家" in poached.subject
        # the stake is priced from the listed price and date: 2% of ¥3,205,000
        assert (jumped.sale_price_cents, jumped.sold_on) == (320_500_000, today())
        assert "第 6 行" in jumped.summary
    assert rows[6]["dispute_id"] == jumped.id and rows[6]["stake_cents"] == 6_410_000
    assert rows[7]["dispute_id"] == poached.id
    # price and unit mismatches are shown, and open nothing by themselves
    assert rows[4]["dispute_id"] is None and rows[5]["dispute_id"] is None and len(disputes) == 2


def test_the_evidence_pack_of_a_jumped_sale_shows_the_sales_list_row_with_its_line(world, app, client):
    scene = build_scene(world)
    upload(world, scene, csv_file(sales_rows(scene), "utf-8"), "台账.csv")
    with app.app_context():
        dispute_id = db.session.scalar(select(Dispute.id).where(
            Dispute.registration_id == scene.registrations["wang"]))
    pack = client.get(f"/admin/api/v1/disputes/{dispute_id}/evidence-pack", headers=world.staff_auth("operations"))
    assert pack.status_code == 200, pack.get_json()
    sections = {s["key"]: s["rows"] for s in pack.get_json()["sections"]}
    [row] = sections["sales_list"]
    assert (row["line"], row["category"], row["file"], row["dispute_id"]) == (6, "跑单", "台账.csv", dispute_id)
    assert "*" in row["phone"] and not re.search(r"1[3-9]\d{9}", json.dumps(row, ensure_ascii=False))


def test_the_same_file_again_returns_the_upload_and_opens_nothing_new(world, app, counts):
    scene = build_scene(world)
    content = csv_file(sales_rows(scene), "gb18030")
    first = upload(world, scene, content, "台账.csv")
    before = counts()

    again = upload(world, scene, content, "十一月台账（重传）.csv", expect=200)

    assert again["duplicate"] is True and again["id"] == first["id"] and again["filename"] == "台账.csv"
    assert counts() == before


def test_an_overlapping_list_opens_no_second_dispute_for_the_same_sale(world, app):
    scene = build_scene(world)
    upload(world, scene, csv_file(sales_rows(scene), "utf-8"), "十月.csv")
    opened = dispute_count(app)
    overlapping = [sales_rows(scene)[3], ["10", "褚十", "13500002222", "9-1001", "200", today().isoformat(), "自访"]]

    second = upload(world, scene, csv_file(overlapping, "utf-8", title=False), "十一月.csv")
    rows = rows_by_line(world, second["id"])

    assert rows[2]["category"] == "jumped" and rows[2]["dispute_id"] is not None
    assert second["id"] != 0 and dispute_count(app) == opened == 2
    assert world.client.get(f"{API}/{second['id']}", headers=world.staff_auth("operations")).get_json()[
        "disputes_opened"] == 0


def test_a_masked_phone_needs_the_name_to_fit_exactly_one_registered_buyer(world, app):
    scene = build_scene(world)
    day = today().isoformat()
    rows = [["1", "钱先生", "135****5555", "1", "100", day, "自访"],   # fits 钱先生 only
            ["2", "钱多多", "135****5555", "2", "100", day, "自访"],   # fits both by surname
            ["3", "孙七", "138****2222", "2-0202", "180", day, ""],    # one candidate, the name fits
            ["4", "周七", "138****2222", "2-0202", "180", day, ""],    # one candidate, another name
            ["5", "", "138****2222", "2-0202", "180", day, ""]]       # no name to confirm with
    created = upload(world, scene, csv_file(rows, "utf-8", title=False), "打码.csv")
    found = rows_by_line(world, created["id"])

    assert (found[2]["category"], found[2]["match_kind"], found[2]["registration_id"]) == (
        "jumped", "masked", scene.registrations["qian1"])
    assert found[3]["category"] == "ambiguous" and "2 位候选客户" in found[3]["reason"]
    assert (found[4]["category"], found[4]["match_kind"]) == ("ok", "masked")
    assert (found[5]["category"], found[5]["match_kind"]) == ("unmatched", "none")
    assert "姓名都不相符" in found[5]["reason"]
    assert found[6]["category"] == "unmatched" and "没有姓名" in found[6]["reason"]


def test_a_sale_outside_the_protection_or_by_an_unvisited_competitor_registration_is_not_a_jump(world, app):
    scene = build_scene(world)
    lapsed = world.register(scene.jia, scene.project, phone="13900005555", name="褚先生")
    visit_project = world.project(name="到访为王", protection_mode="visit_deal", developer_id=scene.developer_id)
    world.commission_rule(visit_project)
    unvisited = world.register(scene.jia, visit_project, phone="13900006666", name="卫先生")
    with app.app_context():
        registration = db.session.get(Registration, lapsed["id"])
        registration.status, registration.binding = "expired", False
        registration.protected_until = registration.ended_at = now() - timedelta(days=3)
        registration.created_at = now() - timedelta(days=40)
        db.session.commit()
    day = (today() - timedelta(days=1)).isoformat()
    created = upload(world, scene, csv_file([["1", "褚先生", "13900005555", "1", "100", day, "自访"]], "utf-8",
                                            title=False), "过期.csv")
    found = rows_by_line(world, created["id"])
    assert found[2]["category"] == "unmatched" and "不在任何有效报备的保护期内" in found[2]["reason"]

    data = {"project_id": str(visit_project), "period_from": day, "period_to": today().isoformat(),
            "file": (io.BytesIO(csv_file([["1", "卫先生", "13900006666", "1", "100", today().isoformat(), ""]],
                                         "utf-8", title=False)), "到访为王.csv")}
    response = world.client.post(API, data=data, content_type="multipart/form-data",
                                 headers=world.staff_auth("operations"))
    assert response.status_code == 201, response.get_json()
    row = rows_by_line(world, response.get_json()["id"])[2]
    assert row["category"] == "unmatched" and unvisited["id"] and dispute_count(app) == 0


def test_a_row_naming_another_project_is_not_judged(world):
    scene = build_scene(world)
    header = HEADER + ["项目"]
    day = today().isoformat()
    lines = [",".join(header), ",".join(["1", "王芳", scene.phones["wang"], "7-0701", "320", day, "自然到访", "金陵府二期"]),
             ",".join(["2", "王芳", scene.phones["wang"], "7-0701", "320", day, "自然到访", "别的楼盘"])]
    created = upload(world, scene, ("\n".join(lines) + "\n").encode(), "多项目.csv")
    found = rows_by_line(world, created["id"])
    assert found[2]["category"] == "jumped"
    assert found[3]["category"] == "unmatched" and "不是本楼盘" in found[3]["reason"]


def test_an_unmappable_file_asks_for_the_mapping_and_the_confirmed_mapping_is_remembered(world, app):
    scene = build_scene(world)
    day = today().isoformat()
    odd = ["买方", "号码", "房间编码", "价款", "成交日", "介绍方"]
    rows = [["王芳", scene.phones["wang"], "7-0701", "3205000", day, "自然到访"]]
    content = ("\n".join([",".join(odd)] + [",".join(r) for r in rows]) + "\n").encode("gb18030")

    refused = upload(world, scene, content, "怪表头.csv", expect=422)
    assert refused["error"]["code"] == "mapping_required"
    assert refused["error"]["details"]["headers"] == odd and "phone" in refused["error"]["details"]["missing"]
    assert refused["error"]["details"]["samples"][0]["line"] == 2

    mapping = {"columns": {"buyer_name": "买方", "phone": "号码", "unit": "房间编码", "price": "价款",
                           "sale_date": "成交日", "channel": "介绍方"}, "price_unit": "yuan"}
    created = upload(world, scene, content, "怪表头.csv", mapping=mapping)
    assert rows_by_line(world, created["id"])[2]["category"] == "jumped"

    next_month = content + f"郑强,{scene.phones['zheng']},6-0101,2500000,{day},案场\n".encode("gb18030")
    preview = world.client.post(f"{API}/preview", data={"project_id": str(scene.project),
                                                        "file": (io.BytesIO(next_month), "下月.csv")},
                                content_type="multipart/form-data", headers=world.staff_auth("operations"))
    assert preview.status_code == 200 and preview.get_json()["remembered"]["columns"] == mapping["columns"]
    again = upload(world, scene, next_month, "下月.csv")  # no mapping sent: the developer's is used
    assert again["mapping"]["columns"] == mapping["columns"]
    assert rows_by_line(world, again["id"])[3]["category"] == "ok"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DeveloperColumnMapping)) == 1


@pytest.mark.parametrize("content, filename, code", [
    (b"PK\x03\x04not really a workbook", "台账.xlsx", "sales_list_unreadable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "台账.xls", "sales_list_type_not_allowed"),
    ("客户,电话\n张三,13912345678\n".encode(), "台账.txt", "sales_list_type_not_allowed"),
    ("客户,电话\n张三,13912345678\n".encode(), "台账.xlsx", "sales_list_type_not_allowed"),
    (b"", "台账.csv", "sales_list_unreadable"),
])
def test_files_that_are_not_a_sales_list_are_refused_and_store_nothing(world, app, counts, content, filename, code):
    scene = build_scene(world)
    before = counts()
    refused = upload(world, scene, content, filename, expect=422)
    assert refused["error"]["code"] == code and counts() == before


def test_the_export_opens_with_chinese_headers_and_the_original_file_is_kept(world):
    scene = build_scene(world)
    content = xlsx_file(sales_rows(scene))
    created = upload(world, scene, content, "台账.xlsx")

    export = world.client.get(f"{API}/{created['id']}/export", headers=world.staff_auth("operations"))
    original = world.client.get(f"{API}/{created['id']}/file", headers=world.staff_auth("operations"))
    jumped_only = world.client.get(f"{API}/{created['id']}/export", query_string={"category": "jumped"},
                                   headers=world.staff_auth("operations"))

    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(export.data), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("行号", "核对结果", "匹配方式", "客户姓名") and len(values) == 10
    assert values[4][1] == "跑单" and values[4][0] == 7
    assert len(list(openpyxl.load_workbook(io.BytesIO(jumped_only.data)).active.iter_rows())) == 2
    assert original.status_code == 200 and original.data == content


def test_only_operations_and_admins_reconcile(world):
    scene = build_scene(world)
    content = csv_file(sales_rows(scene), "utf-8")
    for role in ("finance", "site_staff"):
        refused = upload(world, scene, content, "台账.csv", role=role, expect=403)
        assert refused["error"]["code"] == "role_forbidden"
    assert world.client.get(API).status_code == 401
    created = upload(world, scene, content, "台账.csv", role="admin")
    assert world.client.get(f"{API}/{created['id']}/rows", headers=world.staff_auth("finance")).status_code == 403
    assert world.client.get(f"{API}/{created['id'] + 1}", headers=world.staff_auth("operations")).status_code == 404


def test_a_run_interrupted_after_a_chunk_resumes_without_storing_or_opening_anything_twice(world, app):
    scene = build_scene(world)
    staff_id = world.staff("operations")[0]
    with app.app_context():
        staff = db.session.get(StaffUser, staff_id)
        storage = str(app.config["INSTANCE_PATH"]) + "/sales_lists"
        content = csv_file(sales_rows(scene), "utf-8")
        upload_row, _ = reconciliation.create_upload(
            db.session, staff, project_id=scene.project, period_from=today(), period_to=today(), filename="台账.csv",
            content=content, mapping=None, storage_dir=storage, now=now())
        commit(db.session)
        upload_id = upload_row.id
        chunks = []

        def crash_after_second_chunk():
            commit(db.session)
            chunks.append(1)
            if len(chunks) == 3:  # the totals, then two chunks of four rows
                raise RuntimeError("worker lost")

        with pytest.raises(RuntimeError):
            reconciliation.run_upload(db.session, upload_id, storage_dir=storage, now=now(),
                                      after_chunk=crash_after_second_chunk, chunk_rows=4)
        db.session.rollback()
        stored = db.session.scalar(select(func.count()).where(SalesListRow.upload_id == upload_id))
        assert stored == 8 and db.session.get(SalesListUpload, upload_id).status == "running"

        done = reconciliation.run_upload(db.session, upload_id, storage_dir=storage, now=now(),
                                         after_chunk=lambda: commit(db.session), chunk_rows=4)
        commit(db.session)
        assert done.status == "done" and done.rows_done == 9
        assert {k: v for k, v in done.counts.items() if v} == EXPECTED
        assert db.session.scalar(select(func.count()).where(SalesListRow.upload_id == upload_id)) == 9
        assert db.session.scalar(select(func.count()).select_from(Dispute)) == 2
        again = reconciliation.run_upload(db.session, upload_id, storage_dir=storage, now=now())
        assert again.status == "done" and db.session.scalar(select(func.count()).select_from(Dispute)) == 2


def test_the_list_of_uploads_shows_progress_and_counts(world):
    scene = build_scene(world)
    created = upload(world, scene, csv_file(sales_rows(scene), "utf-8"), "台账.csv")
    listed = world.client.get(API, query_string={"project_id": scene.project},
                              headers=world.staff_auth("operations")).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]
    assert listed["items"][0]["status_label"] == "已完成" and listed["items"][0]["percent"] == 100
    filtered = rows_by_line(world, created["id"], category="jumped")
    assert list(filtered) == [6]


# --- the pages ---------------------------------------------------------------------------------

def test_the_pages_upload_a_list_through_the_mapping_step_and_show_its_result(world, client, app):
    import re

    from tests.integration.test_admin_deals_pages import sign_in, token
    scene = build_scene(world)
    sign_in(world, client, "operations")
    csrf = token(client, "/admin/reconciliations/")
    period = {"project_id": str(scene.project), "period_from": today().isoformat(),
              "period_to": today().isoformat()}

    step = client.post("/admin/reconciliations/", content_type="multipart/form-data", data={
        **period, "csrf_token": csrf, "file": (io.BytesIO(csv_file(sales_rows(scene), "gb18030")), "十一月台账.csv")})
    page = step.get_data(as_text=True)
    assert step.status_code == 200 and "确认台账的列" in page and "表头在第 2 行" in page
    assert '<option value="联系电话" selected>' in page and "周建国" in page  # pre-filled, samples shown
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)

    done = client.post("/admin/reconciliations/confirm", data={
        **period, "csrf_token": csrf, "digest": digest, "filename": "十一月台账.csv", "column_buyer_name": "客户姓名",
        "column_phone": "联系电话", "column_unit": "房号", "column_price": "成交总价（万元）", "column_sale_date": "签约日期",
        "column_channel": "成交渠道", "price_unit": "wan", "direct_channels": "自然来电，老带新"})
    assert done.status_code == 302
    result = client.get(done.headers["Location"]).get_data(as_text=True)
    status = client.get(done.headers["Location"] + "/status").get_json()
    jumped = client.get(done.headers["Location"], query_string={"category": "jumped"}).get_data(as_text=True)
    export = client.get(done.headers["Location"] + "/export")

    assert status["status"] == "done" and status["percent"] == 100 and status["counts"]["jumped"] == 1
    assert "跑单 1" in result and "撬单 1" in result and "无法读取 1" in result and "科学计数法" in result
    assert "/admin/disputes/" in jumped and "王芳" in jumped and "周建国" not in jumped
    assert export.status_code == 200 and openpyxl.load_workbook(io.BytesIO(export.data)).active["A1"].value == "行号"
    with app.app_context():
        remembered = db.session.scalar(select(DeveloperColumnMapping)).mapping
    assert remembered["direct_channels"] == ["自然来电", "老带新"] and remembered["price_unit"] == "wan"


def test_the_pages_show_a_refusal_on_the_form_and_keep_other_roles_out(world, client, counts):
    from tests.integration.test_admin_deals_pages import sign_in, token
    scene = build_scene(world)
    sign_in(world, client, "operations")
    csrf = token(client, "/admin/reconciliations/")
    before = counts()
    refused = client.post("/admin/reconciliations/", content_type="multipart/form-data", data={
        "project_id": str(scene.project), "period_from": "2026-13-01", "period_to": today().isoformat(),
        "csrf_token": csrf, "file": (io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "old.xls")})
    assert refused.status_code == 422 and "日期" in refused.get_data(as_text=True) and counts() == before
    wrong_type = client.post("/admin/reconciliations/", content_type="multipart/form-data", data={
        "project_id": str(scene.project), "period_from": today().isoformat(), "period_to": today().isoformat(),
        "csrf_token": csrf, "file": (io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "old.xls")})
    assert wrong_type.status_code == 422 and ".xlsx 或 .csv" in wrong_type.get_data(as_text=True)

    other = world.app.test_client()
    sign_in(world, other, "finance")
    assert other.get("/admin/reconciliations/").status_code == 403


@pytest.mark.parametrize("field, value, named", [
    ("project_id", "2147483648", "project_id"), ("project_id", "abc", "project_id"),
    ("period_from", "2026-02-30", "period_from"), ("mapping", "{\"columns\": ", "mapping"),
    ("mapping", "[1, 2]", "mapping"), ("mapping", "{\"columns\": {\"phone\": \"电话\x07\"}}", "mapping"),
    ("extra", "1", "extra"), ("file", None, "file"),
])
def test_bad_form_values_are_a_422_naming_the_field_and_change_nothing(world, counts, field, value, named):
    scene = build_scene(world)
    data = {"project_id": str(scene.project), "period_from": today().isoformat(), "period_to": today().isoformat(),
            "file": (io.BytesIO(csv_file(sales_rows(scene), "utf-8")), "台账.csv")}
    if value is None:
        del data[field]
    else:
        data[field] = value
    before = counts()
    response = world.client.post(API, data=data, content_type="multipart/form-data",
                                 headers=world.staff_auth("operations"))
    body = response.get_json()
    assert response.status_code == 422, body
    assert named in body["error"]["details"]["fields"] and counts() == before


def test_the_same_file_after_a_failed_run_is_run_again(world, app, monkeypatch):
    scene = build_scene(world)
    content = csv_file(sales_rows(scene), "utf-8")

    def lost(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(reconciliation, "load_facts", lost)
    failed = upload(world, scene, content, "台账.csv")
    status = world.client.get(f"{API}/{failed['id']}", headers=world.staff_auth("operations")).get_json()
    assert status["status"] == "failed" and "处理时出错" in status["error"]
    monkeypatch.undo()

    again = upload(world, scene, content, "台账.csv")
    status = world.client.get(f"{API}/{failed['id']}", headers=world.staff_auth("operations")).get_json()
    assert again["id"] == failed["id"] and status["status"] == "done" and status["disputes_opened"] == 2
