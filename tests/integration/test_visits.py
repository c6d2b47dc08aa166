"""Visits (带看/到访): booking with a check-in code, confirmation by site staff or the
buyer, invalidation with a reason, attachments, and the admin check-in page."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select, update

from estate_platform.db import db
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import StaffUser
from estate_platform.notifications.models import Notification
from estate_platform.registrations import rules
from estate_platform.registrations.models import Registration
from estate_platform.visits import attachments
from estate_platform.visits import services as visits
from estate_platform.visits import storage
from estate_platform.visits.models import Visit, VisitAttachment
from tests.conftest import now
from tests.parallel import parallel

MP = "/api/mp/v1"
CODE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


# --- helpers ------------------------------------------------------------------------------------

@dataclass
class Staff:
    id: int
    username: str
    password: str
    developer_id: int | None
    headers: dict


def staff_member(world, role: str = "site_staff", developer_id: int | None = None) -> Staff:
    """A staff member with a JSON token; site staff work for ``developer_id`` (default: a new developer)."""
    staff_id, username, password = world.staff(role)
    with world.app.app_context():
        user = db.session.get(StaffUser, staff_id)
        if developer_id is not None:
            user.developer_id = developer_id
            db.session.commit()
        developer_id = user.developer_id
    response = world.client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["token"]
    return Staff(staff_id, username, password, developer_id, {"Authorization": f"Bearer {token}"})


@dataclass
class Scene:
    site: Staff
    project_id: int
    consultant: object
    phone: str
    registration: dict
    visit: dict


def book(world, consultant, registration_id: int, when: datetime | None = None, expect: int = 201) -> dict:
    when = when or now() + timedelta(days=1)
    response = world.client.post(f"{MP}/registrations/{registration_id}/visits",
                                 json={"scheduled_at": when.isoformat()}, headers=consultant.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def office_code(app, project_id: int, at: datetime) -> str:
    """The sales office's code for the project at ``at``, as the site staff's page shows it."""
    from estate_platform.visits import presence
    return presence.current_code(app.config["SECRET_KEY"], project_id, at)[0]


def scene(world, when: datetime | None = None, **project) -> Scene:
    """Site staff of a developer, its project, a consultant who registered a buyer and booked a visit."""
    site = staff_member(world)
    project_id = world.project(developer_id=site.developer_id, **project)
    consultant = world.operating_consultant()
    phone = world.next_buyer_phone()
    registration = world.register(consultant, project_id, phone=phone, name="周先生")
    return Scene(site, project_id, consultant, phone, registration, book(world, consultant, registration["id"], when))


def check_in(client, staff: Staff, code: str):
    return client.post("/admin/api/v1/visits/check-in", json={"code": code}, headers=staff.headers)


def error_code(response) -> str | None:
    return (response.get_json() or {}).get("error", {}).get("code")


def registration_row(app, registration_id: int) -> Registration:
    with app.app_context():
        row = db.session.get(Registration, registration_id)
        db.session.expunge(row)
        return row


def visit_row(app, visit_id: int) -> Visit:
    with app.app_context():
        row = db.session.get(Visit, visit_id)
        db.session.expunge(row)
        return row


def notifications(app, consultant_id: int, kind: str) -> list[Notification]:
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(Notification.consultant_id == consultant_id,
                                                                  Notification.kind == kind)))


def events(app, subject_type: str, subject_id: int) -> list[str]:
    with app.app_context():
        chain = evidence.chain(db.session, subject_type, subject_id)
        assert evidence.verify(chain) == (True, None)
        return [record.event for record in chain]


def buyer_auth(world, phone: str) -> dict:
    """Sign a buyer in on the H5 page with the SMS code the local adapter kept."""
    assert world.client.post(f"{MP}/auth/sms/send", json={"phone": phone},
                             environ_base={"REMOTE_ADDR": f"10.9.{len(phone) % 200}.{int(phone[-2:])}"}
                             ).status_code == 200
    code = world.app.extensions["adapters"].sms.last_code("+86" + phone)
    response = world.client.post(f"{MP}/auth/sms/verify", json={"phone": phone, "code": code})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def uploads(app) -> list[Path]:
    root = Path(app.config["INSTANCE_PATH"]) / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(client, visit_id: int, headers: dict, content: bytes, filename: str = "来访确认单.png",
           content_type: str = "image/png"):
    return client.post(f"{MP}/visits/{visit_id}/attachments", headers=headers, content_type="multipart/form-data",
                       data={"file": (BytesIO(content), filename, content_type)})


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def page_login(client, staff: Staff) -> None:
    page = client.get("/admin/login")
    response = client.post("/admin/login", data={"username": staff.username, "password": staff.password,
                                                 "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302


# --- booking ---------------------------------------------------------------------------------

def test_consultant_books_a_visit_and_gets_a_six_character_code_and_its_qr(world, client, app):
    s = scene(world)
    visit = s.visit
    assert CODE.match(visit["check_in_code"]), visit["check_in_code"]
    assert visit["status"] == "scheduled" and visit["status_label"] == "待到访"
    assert visit["registration_id"] == s.registration["id"] and visit["buyer_name"] == "周先生"
    qr = client.get(visit["qr_url"], headers=s.consultant.auth)
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    svg = qr.get_data(as_text=True)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and visit["check_in_code"] in svg
    assert events(app, "visit", visit["id"]) == ["booked"]
    listed = client.get(f"{MP}/registrations/{s.registration['id']}/visits", headers=s.consultant.auth).get_json()
    assert [v["id"] for v in listed] == [visit["id"]]


def test_another_consultant_can_neither_book_nor_see_the_visit(world, client, counts):
    s = scene(world)
    other = world.operating_consultant()
    before = counts()
    refused = client.post(f"{MP}/registrations/{s.registration['id']}/visits", headers=other.auth,
                          json={"scheduled_at": (now() + timedelta(days=1)).isoformat()})
    assert refused.status_code == 404 and error_code(refused) == "registration_not_found"
    for url in (f"/visits/{s.visit['id']}", f"/visits/{s.visit['id']}/qr.svg", f"/visits/{s.visit['id']}/attachments"):
        response = client.get(MP + url, headers=other.auth)
        assert response.status_code == 404 and error_code(response) == "visit_not_found", url
    cancel = client.delete(f"{MP}/visits/{s.visit['id']}", headers=other.auth)
    assert cancel.status_code == 404 and error_code(cancel) == "visit_not_found"
    assert counts() == before


def test_check_in_codes_avoid_ambiguous_characters():
    codes = {visits.new_code() for _ in range(2000)}
    assert all(CODE.match(code) for code in codes)
    assert not set("".join(codes)) & set("0O1IL")
    assert len(codes) > 1990  # random, not a counter


def test_a_code_already_taken_is_drawn_again(world, client, monkeypatch):
    s = scene(world)
    taken = s.visit["check_in_code"]
    draws = iter([taken, taken, "XY3456"])
    monkeypatch.setattr(visits, "new_code", lambda: next(draws))
    registration = world.register(s.consultant, s.project_id)
    assert book(world, s.consultant, registration["id"])["check_in_code"] == "XY3456"


@pytest.mark.parametrize("when,field_message", [
    (timedelta(hours=-1), "预约到访时间不能早于现在"),
    (timedelta(days=40), "预约到访时间不能晚于报备保护截止时间"),
])
def test_a_visit_in_the_past_or_after_protection_ends_is_refused_naming_scheduled_at(world, client, counts, when,
                                                                                      field_message):
    s = scene(world, visit_window_hours=30 * 24)
    registration = world.register(s.consultant, s.project_id)
    before = counts()
    response = book(world, s.consultant, registration["id"], now() + when, expect=422)
    assert response["error"]["code"] == "validation_error"
    assert field_message in response["error"]["details"]["fields"]["scheduled_at"][0]
    assert counts() == before


def test_a_few_minutes_of_clock_skew_are_allowed(world):
    s = scene(world)
    registration = world.register(s.consultant, s.project_id)
    assert book(world, s.consultant, registration["id"], now() - timedelta(minutes=2))["status"] == "scheduled"


def test_one_scheduled_visit_per_registration_cancel_to_reschedule(world, client, app):
    s = scene(world)
    second = book(world, s.consultant, s.registration["id"], expect=409)["error"]
    assert second["code"] == "visit_already_scheduled" and second["details"]["visit_id"] == s.visit["id"]
    cancelled = client.delete(f"{MP}/visits/{s.visit['id']}", headers=s.consultant.auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = client.delete(f"{MP}/visits/{s.visit['id']}", headers=s.consultant.auth)
    assert again.status_code == 409 and error_code(again) == "visit_closed"
    rebooked = book(world, s.consultant, s.registration["id"], now() + timedelta(days=2))
    assert rebooked["check_in_code"] != s.visit["check_in_code"]
    # The withdrawn code no longer checks anyone in.
    old = check_in(client, s.site, s.visit["check_in_code"])
    assert old.status_code == 409 and error_code(old) == "visit_closed"
    assert events(app, "visit", s.visit["id"]) == ["booked", "cancelled"]


def test_the_database_allows_one_scheduled_visit_per_registration(world, app):
    s = scene(world)
    with app.app_context():
        db.session.add(Visit(registration_id=s.registration["id"], scheduled_at=now(), check_in_code="ZZZ222",
                             status="scheduled", created_at=now()))
        with pytest.raises(Exception) as raised:
            db.session.flush()
        db.session.rollback()
    assert "unique" in str(raised.value).lower()


def test_a_closed_registration_books_no_visit(world, client, app, counts):
    s = scene(world)
    registration = world.register(s.consultant, s.project_id)
    with app.app_context():
        db.session.execute(update(Registration).where(Registration.id == registration["id"])
                           .values(protected_until=now() - timedelta(minutes=1)))
        db.session.commit()
    before = counts()
    assert book(world, s.consultant, registration["id"], expect=409)["error"]["code"] == "registration_closed"
    assert counts() == before


# --- confirming by code --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", rules.MODES)
def test_confirming_by_code_moves_protection_as_the_projects_mode_says(world, client, app, mode):
    s = scene(world, protection_mode=mode, visit_window_hours=48, deal_window_hours=240)
    before = registration_row(app, s.registration["id"])
    assert before.binding is (mode != "visit_deal")
    response = check_in(client, s.site, s.visit["check_in_code"].lower())  # staff may type lower case
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "confirmed" and body["confirmed_by_type"] == "staff"
    confirmed_at = datetime.fromisoformat(body["confirmed_at"])
    after = registration_row(app, s.registration["id"])
    expected = rules.on_visit_confirmed(mode, before.protected_until, confirmed_at, deal_window_hours=240)
    assert after.status == "visited" and after.binding is True
    assert after.protected_until == expected.protected_until
    assert after.protected_until == confirmed_at + timedelta(hours=240)  # the deal window now runs
    assert body["registration"]["protected_until"] == after.protected_until.isoformat()
    assert events(app, "visit", s.visit["id"]) == ["booked", "confirmed"]
    assert events(app, "registration", s.registration["id"])[-1] == "visit_confirmed"
    [note] = notifications(app, s.consultant.id, "visit_confirmed")
    assert "周先生" in note.body and "案场确认" in note.body


def test_visit_deal_first_confirmed_visit_binds_and_the_competitor_is_lost(world, client, app):
    s = scene(world, protection_mode="visit_deal")
    rival = world.operating_consultant(name="竞争顾问")
    rival_registration = world.register(rival, s.project_id, phone=s.phone, name="周先生")  # 201: not binding
    assert rival_registration["binding"] is False and s.registration["binding"] is False
    rival_visit = book(world, rival, rival_registration["id"])

    assert check_in(client, s.site, s.visit["check_in_code"]).status_code == 200

    assert registration_row(app, s.registration["id"]).binding is True
    lost = registration_row(app, rival_registration["id"])
    assert lost.status == "lost" and lost.binding is False
    assert len(notifications(app, rival.id, "registration_lost")) == 1
    assert visit_row(app, rival_visit["id"]).status == "cancelled"
    assert events(app, "visit", rival_visit["id"]) == ["booked", "cancelled"]
    late = check_in(client, s.site, rival_visit["check_in_code"])
    assert late.status_code == 409 and error_code(late) == "buyer_already_bound"
    with app.app_context():
        binding = db.session.scalars(select(Registration).where(Registration.project_id == s.project_id,
                                                                Registration.binding.is_(True))).all()
    assert [r.id for r in binding] == [s.registration["id"]]


def test_site_staff_of_another_developer_cannot_find_or_confirm_the_visit(world, client, app, counts):
    s = scene(world)
    stranger = staff_member(world)
    before = counts()
    for response in (check_in(client, stranger, s.visit["check_in_code"]),
                     client.post(f"/admin/api/v1/visits/{s.visit['id']}/invalid", json={"reason": "未到场"},
                                 headers=stranger.headers)):
        assert response.status_code == 404 and error_code(response) == "visit_not_found"
    listed = client.get("/admin/api/v1/visits", headers=stranger.headers,
                        query_string={"date": s.visit["scheduled_at"][:10]}).get_json()
    assert listed == []
    assert counts() == before
    assert visit_row(app, s.visit["id"]).status == "scheduled"


def test_operations_may_confirm_any_developers_visit_and_finance_may_not(world, client):
    s = scene(world)
    finance = client.post("/admin/api/v1/visits/check-in", json={"code": s.visit["check_in_code"]},
                          headers=world.staff_auth("finance"))
    assert finance.status_code == 403 and error_code(finance) == "role_forbidden"
    operations = client.post("/admin/api/v1/visits/check-in", json={"code": s.visit["check_in_code"]},
                             headers=world.staff_auth("operations"))
    assert operations.status_code == 200 and operations.get_json()["status"] == "confirmed"


def _confirm_first(world, client, app, s):
    assert check_in(client, s.site, s.visit["check_in_code"]).status_code == 200


def _mark_invalid_first(world, client, app, s):
    assert client.post(f"/admin/api/v1/visits/{s.visit['id']}/invalid", json={"reason": "客户未到场"},
                       headers=s.site.headers).status_code == 200


def _lapse_protection(world, client, app, s):
    with app.app_context():
        db.session.execute(update(Registration).where(Registration.id == s.registration["id"])
                           .values(protected_until=now() - timedelta(seconds=1)))
        db.session.commit()


@pytest.mark.parametrize("prepare,code_of,status,code", [
    (_confirm_first, lambda s: s.visit["check_in_code"], 409, "visit_closed"),
    (_mark_invalid_first, lambda s: s.visit["check_in_code"], 409, "visit_closed"),
    (_lapse_protection, lambda s: s.visit["check_in_code"], 409, "registration_closed"),
    (lambda *a: None, lambda s: "ZZZZZZ", 404, "visit_not_found"),
    (lambda *a: None, lambda s: "not a code", 404, "visit_not_found"),
])
def test_check_in_refusals(world, client, app, counts, prepare, code_of, status, code):
    s = scene(world)
    prepare(world, client, app, s)
    before = counts()
    response = check_in(client, s.site, code_of(s))
    assert response.status_code == status and error_code(response) == code, response.get_json()
    assert counts() == before


# --- judging a visit invalid ------------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["", "   "])
def test_judging_a_visit_invalid_needs_a_reason(world, client, app, counts, reason):
    s = scene(world)
    before = counts()
    response = client.post(f"/admin/api/v1/visits/{s.visit['id']}/invalid", json={"reason": reason},
                           headers=s.site.headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]["fields"]) == ["reason"]
    assert counts() == before


def test_an_invalid_visit_keeps_its_reason_tells_the_consultant_and_extends_nothing(world, client, app):
    s = scene(world)
    before = registration_row(app, s.registration["id"])
    response = client.post(f"/admin/api/v1/visits/{s.visit['id']}/invalid", json={"reason": "客户未到场"},
                           headers=s.site.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "invalid" and response.get_json()["invalid_reason"] == "客户未到场"
    after = registration_row(app, s.registration["id"])
    assert (after.status, after.protected_until) == (before.status, before.protected_until)
    [note] = notifications(app, s.consultant.id, "visit_invalid")
    assert "客户未到场" in note.body
    assert events(app, "visit", s.visit["id"]) == ["booked", "invalid"]


# --- the buyer confirms ------------------------------------------------------------------------------

def test_the_buyer_confirms_his_own_visit_on_the_day(world, client, app, monkeypatch):
    s = scene(world)
    auth = buyer_auth(world, s.phone)
    listed = client.get(f"{MP}/buyer/visits", headers=auth).get_json()
    assert [(v["id"], v["check_in_code"]) for v in listed] == [(s.visit["id"], s.visit["check_in_code"])]

    too_early = client.post(f"{MP}/buyer/visits/{s.visit['id']}/confirm", headers=auth,
                            json={"office_code": office_code(app, s.project_id, now())})
    assert too_early.status_code == 409 and error_code(too_early) == "visit_not_due"

    import mini_program_api.visits as handlers
    arrived = datetime.fromisoformat(s.visit["scheduled_at"]) + timedelta(minutes=20)
    monkeypatch.setattr(handlers, "utcnow", lambda: arrived)
    response = client.post(f"{MP}/buyer/visits/{s.visit['id']}/confirm", headers=auth,
                           json={"office_code": office_code(app, s.project_id, arrived)})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "confirmed"
    visit = visit_row(app, s.visit["id"])
    assert (visit.confirmed_by_type, visit.confirmed_at) == ("buyer", arrived)
    registration = registration_row(app, s.registration["id"])
    assert registration.status == "visited" and registration.protected_until == arrived + timedelta(days=90)
    with app.app_context():
        [record] = [r for r in evidence.chain(db.session, "visit", s.visit["id"]) if r.event == "confirmed"]
        assert record.actor_type == "buyer"
    [note] = notifications(app, s.consultant.id, "visit_confirmed")
    assert "客户确认" in note.body
    assert client.get(f"{MP}/buyer/visits", headers=auth).get_json() == []


def test_another_buyer_or_a_consultant_cannot_confirm_the_visit(world, client, app, counts):
    s = scene(world, when=now() + timedelta(minutes=1))
    stranger = buyer_auth(world, world.next_buyer_phone())
    before = counts()
    code = {"office_code": office_code(app, s.project_id, now())}
    response = client.post(f"{MP}/buyer/visits/{s.visit['id']}/confirm", headers=stranger, json=code)
    assert response.status_code == 404 and error_code(response) == "visit_not_found"
    assert client.get(f"{MP}/buyer/visits", headers=stranger).get_json() == []
    as_consultant = client.post(f"{MP}/buyer/visits/{s.visit['id']}/confirm", headers=s.consultant.auth, json=code)
    assert as_consultant.status_code == 401
    assert counts() == before
    assert visit_row(app, s.visit["id"]).status == "scheduled"


# --- attachments (来访确认单) ------------------------------------------------------------------------

def test_consultant_uploads_the_signed_form_and_downloads_it(world, client, app):
    s = scene(world)
    response = upload(client, s.visit["id"], s.consultant.auth, PNG, filename="../../etc/来访确认单.png")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    digest = hashlib.sha256(PNG).hexdigest()
    assert body["filename"] == "来访确认单.png" and body["content_type"] == "image/png"
    assert body["size_bytes"] == len(PNG) and body["sha256"] == digest
    stored = Path(app.config["INSTANCE_PATH"]) / "uploads" / digest[:2] / digest
    assert uploads(app) == [stored] and stored.read_bytes() == PNG
    download = client.get(body["download_url"], headers=s.consultant.auth)
    assert download.status_code == 200 and download.data == PNG and download.mimetype == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert events(app, "visit", s.visit["id"]) == ["booked", "attachment_added"]
    other = world.operating_consultant()
    assert client.get(body["download_url"], headers=other.auth).status_code == 404
    assert upload(client, s.visit["id"], other.auth, PNG).status_code == 404


def test_a_file_declared_generic_is_stored_under_the_type_its_content_shows(world, client):
    s = scene(world)
    response = upload(client, s.visit["id"], s.consultant.auth, PDF, filename="确认单.pdf",
                      content_type="application/octet-stream")
    assert response.status_code == 201 and response.get_json()["content_type"] == "application/pdf"


@pytest.mark.parametrize("content,content_type,status,code", [
    (b"<html><script>alert(1)</script></html>", "image/png", 422, "attachment_type_not_allowed"),
    (b"GIF89a" + bytes(64), "image/gif", 422, "attachment_type_not_allowed"),
    (JPEG, "application/pdf", 422, "attachment_type_not_allowed"),  # declared one allowed type, is another
    (PNG + bytes(5 * 1024 * 1024), "image/png", 413, "attachment_too_large"),
    (b"", "image/png", 422, "validation_error"),
])
def test_refused_uploads_store_nothing(world, client, app, counts, content, content_type, status, code):
    s = scene(world)
    before = counts()
    response = upload(client, s.visit["id"], s.consultant.auth, content, content_type=content_type)
    assert response.status_code == status and error_code(response) == code, response.get_json()
    assert counts() == before
    assert uploads(app) == []


def test_an_upload_without_the_file_field_names_it(world, client, counts):
    s = scene(world)
    before = counts()
    response = client.post(f"{MP}/visits/{s.visit['id']}/attachments", headers=s.consultant.auth,
                           data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 422 and list(response.get_json()["error"]["details"]["fields"]) == ["file"]
    assert counts() == before


def test_exactly_five_mib_is_accepted():
    content = PNG + bytes(attachments.MAX_ATTACHMENT_BYTES - len(PNG))
    file = attachments.Upload("a.png", "image/png", BytesIO(content))
    assert attachments._read_checked(file) == (content, "image/png")


@pytest.mark.parametrize("raw,clean", [
    ("来访确认单.jpg", "来访确认单.jpg"),
    ("C:\\Users\\王\\scan 1.pdf", "scan 1.pdf"),
    ("../../.bashrc", "bashrc"),
    ('a<b>:"|?*.png', "a_b______.png"),
    ("", "attachment"),
    (None, "attachment"),
    ("x" * 300 + ".png", "x" * 196 + ".png"),
])
def test_filenames_are_sanitised(raw, clean):
    assert storage.sanitise_filename(raw) == clean


# --- the admin check-in page ----------------------------------------------------------------------

def test_site_staff_check_in_on_the_page_with_the_phone_masked(world, client, app):
    s = scene(world, when=now() + timedelta(minutes=30))
    page_login(client, s.site)
    index = client.get("/admin/visits/")
    html = index.get_data(as_text=True)
    assert index.status_code == 200 and "输入核销码" in html and "周先生" in html
    masked = s.phone[:3] + "****" + s.phone[-4:]
    assert masked in html and s.phone not in html
    assert s.visit["check_in_code"] not in html  # the code is the consultant's proof, never listed

    found = client.get("/admin/visits/lookup", query_string={"code": s.visit["check_in_code"].lower()})
    assert found.status_code == 302
    detail = client.get(found.headers["Location"]).get_data(as_text=True)
    assert "确认到访" in detail and "判为无效" in detail and masked in detail and s.phone not in detail
    assert "测试顾问" in detail

    confirmed = client.post("/admin/visits/check-in", data={"code": s.visit["check_in_code"],
                                                            "csrf_token": csrf_from(detail)})
    assert confirmed.status_code == 302
    after = client.get(confirmed.headers["Location"]).get_data(as_text=True)
    assert "已确认到访" in after and "已到访" in after and s.phone not in after
    assert visit_row(app, s.visit["id"]).confirmed_by_type == "staff"


def test_the_page_shows_the_phone_as_the_projects_rule_says(world, client):
    s = scene(world, when=now() + timedelta(minutes=30), phone_disclosure="first4_last3")
    page_login(client, s.site)
    html = client.get(f"/admin/visits/{s.visit['id']}").get_data(as_text=True)
    assert s.phone[:4] + "****" + s.phone[-3:] in html and s.phone not in html


def test_the_page_refuses_an_unknown_code_and_another_developers_visit(world, client):
    s = scene(world)
    stranger = staff_member(world)
    page_login(client, stranger)
    unknown = client.get("/admin/visits/lookup", query_string={"code": s.visit["check_in_code"]})
    assert unknown.status_code == 404 and "带看记录不存在或核销码有误" in unknown.get_data(as_text=True)
    assert client.get(f"/admin/visits/{s.visit['id']}").status_code == 404


def test_judging_invalid_on_the_page_needs_a_reason(world, client, app):
    s = scene(world)
    page_login(client, s.site)
    detail = client.get(f"/admin/visits/{s.visit['id']}").get_data(as_text=True)
    token = csrf_from(detail)
    refused = client.post(f"/admin/visits/{s.visit['id']}/invalid", data={"reason": " ", "csrf_token": token})
    assert refused.status_code == 302
    assert "请填写判为无效的原因" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert visit_row(app, s.visit["id"]).status == "scheduled"
    forged = client.post(f"/admin/visits/{s.visit['id']}/invalid", data={"reason": "未到场", "csrf_token": "x"})
    assert forged.status_code == 400
    done = client.post(f"/admin/visits/{s.visit['id']}/invalid", data={"reason": "客户未到场", "csrf_token": token})
    assert done.status_code == 302
    assert visit_row(app, s.visit["id"]).invalid_reason == "客户未到场"


def test_site_staff_upload_the_signed_form_on_the_page(world, client, app):
    s = scene(world)
    page_login(client, s.site)
    token = csrf_from(client.get(f"/admin/visits/{s.visit['id']}").get_data(as_text=True))
    refused = client.post(f"/admin/visits/{s.visit['id']}/attachments", content_type="multipart/form-data",
                          data={"csrf_token": token, "file": (BytesIO(b"MZ\x90\x00evil"), "scan.jpg", "image/jpeg")})
    assert refused.status_code == 302 and uploads(app) == []
    assert "仅支持 JPG、PNG 图片或 PDF 文件" in client.get(refused.headers["Location"]).get_data(as_text=True)
    done = client.post(f"/admin/visits/{s.visit['id']}/attachments", content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (BytesIO(JPEG), "确认单.jpg", "image/jpeg")})
    assert done.status_code == 302
    with app.app_context():
        [attachment] = db.session.scalars(select(VisitAttachment)).all()
        assert (attachment.uploaded_by_type, attachment.uploaded_by_id) == ("staff", s.site.id)
        attachment_id = attachment.id
    page = client.get(f"/admin/visits/{s.visit['id']}").get_data(as_text=True)
    assert "确认单.jpg" in page
    download = client.get(f"/admin/visits/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == JPEG
    # The consultant sees the staff's upload too.
    listed = client.get(f"{MP}/visits/{s.visit['id']}/attachments", headers=s.consultant.auth).get_json()
    assert [a["filename"] for a in listed] == ["确认单.jpg"]
    stranger = staff_member(world)
    page_login(client, stranger)
    assert client.get(f"/admin/visits/attachments/{attachment_id}").status_code == 404


@pytest.mark.parametrize("role,expected", [("site_staff", 200), ("operations", 200), ("admin", 200),
                                           ("finance", 403)])
def test_the_check_in_page_allows_only_its_roles(world, client, role, expected):
    page_login(client, staff_member(world, role))
    assert client.get("/admin/visits/").status_code == expected


# --- the admin JSON list ---------------------------------------------------------------------------

def test_site_staff_list_the_days_visits_of_their_developer_only(world, client):
    s = scene(world, when=now() + timedelta(minutes=30))
    elsewhere = scene(world, when=now() + timedelta(minutes=30))
    colleague = staff_member(world, developer_id=s.site.developer_id)
    day = datetime.fromisoformat(s.visit["scheduled_at"]).astimezone(visits.SHANGHAI).date().isoformat()
    listed = client.get("/admin/api/v1/visits", headers=colleague.headers, query_string={"date": day}).get_json()
    assert [v["id"] for v in listed] == [s.visit["id"]]
    item = listed[0]
    assert item["buyer_phone"] == s.phone[:3] + "****" + s.phone[-4:]
    assert s.phone not in str(listed) and "check_in_code" not in item
    everyone = client.get("/admin/api/v1/visits", headers=world.staff_auth("operations"),
                          query_string={"date": day, "status": "scheduled"}).get_json()
    assert {s.visit["id"], elsewhere.visit["id"]} <= {v["id"] for v in everyone}
    bad = client.get("/admin/api/v1/visits", headers=colleague.headers, query_string={"date": "2026-13-40"})
    assert bad.status_code == 422 and list(bad.get_json()["error"]["details"]["fields"]) == ["date"]


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------

@pytest.mark.postgres
def test_two_site_staff_confirming_competing_visits_at_once_bind_the_buyer_once(world, app):
    for _ in range(4):
        s = scene(world, protection_mode="visit_deal")
        colleague = staff_member(world, developer_id=s.site.developer_id)
        rival = world.operating_consultant(name="竞争顾问")
        rival_registration = world.register(rival, s.project_id, phone=s.phone)
        rival_visit = book(world, rival, rival_registration["id"])

        results = parallel(app, [lambda c: check_in(c, s.site, s.visit["check_in_code"]),
                                 lambda c: check_in(c, colleague, rival_visit["check_in_code"])])

        assert results == Counter({(200, None): 1, (409, "buyer_already_bound"): 1})
        with app.app_context():
            rows = db.session.scalars(select(Registration).where(Registration.project_id == s.project_id)).all()
            assert sum(r.binding for r in rows) == 1
            assert sorted(r.status for r in rows) == ["lost", "visited"]
            confirmed = db.session.scalars(select(Visit).where(Visit.status == "confirmed",
                                                               Visit.registration_id.in_([r.id for r in rows]))).all()
            assert len(confirmed) == 1
            for r in rows:
                assert evidence.verify(evidence.chain(db.session, "registration", r.id)) == (True, None)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31"])
def test_the_site_staff_page_refuses_a_day_outside_the_calendar_it_serves(world, client, day):
    """0001-01-01 at midnight in Shanghai is still year 0 in UTC: the page used to answer 500."""
    page_login(client, scene(world).site)
    response = client.get(f"/admin/visits/?date={day}")
    assert response.status_code == 400 and response.mimetype == "text/html"
