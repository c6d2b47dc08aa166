"""The consultant's client book over HTTP: cards made by registering, tiers, tags,
follow-up notes with reminders, the funnel, and isolation between consultants."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from estate_platform.clock import local_date

CLIENTS = "/api/mp/v1/clients"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def card_of(client, consultant, phone: str) -> dict:
    """The consultant's card for the buyer with this phone, found by searching his book."""
    page = client.get(CLIENTS, query_string={"q": phone}, headers=consultant.auth).get_json()
    assert page["total"] == 1, page
    return page["items"][0]


@pytest.fixture
def book(world, client):
    """An operating consultant with one registered buyer, hence one card."""
    consultant = world.operating_consultant(name="王顾问")
    project_id = world.project(name="金陵府")
    phone = world.next_buyer_phone()
    world.register(consultant, project_id, phone=phone, name="周先生")
    return consultant, card_of(client, consultant, phone), phone


# --- cards --------------------------------------------------------------------------------------

def test_registering_a_buyer_puts_him_in_the_client_book_with_his_full_phone(book, client):
    consultant, card, phone = book
    assert card["display_name"] == "周先生"
    assert card["phone"] == phone  # his own buyer: the full number
    assert card["tier"] is None and card["tags"] == [] and card["next_contact_at"] is None

    detail = client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth)
    assert detail.status_code == 200
    assert detail.get_json() == card


def test_registering_the_same_buyer_for_a_second_project_keeps_one_card(book, world, client):
    consultant, card, phone = book
    world.register(consultant, world.project(), phone=phone, name="周先生")
    page = client.get(CLIENTS, headers=consultant.auth).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == card["id"]


def test_tier_and_name_are_changed_and_the_tier_can_be_cleared(book, client):
    consultant, card, _ = book
    url = f"{CLIENTS}/{card['id']}"

    changed = client.patch(url, json={"tier": "A", "display_name": "  周总 "}, headers=consultant.auth)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["tier"] == "A" and changed.get_json()["tier_label"].startswith("A类")
    assert changed.get_json()["display_name"] == "周总"

    cleared = client.patch(url, json={"tier": None}, headers=consultant.auth).get_json()
    assert cleared["tier"] is None and cleared["display_name"] == "周总"


@pytest.mark.parametrize("body, field", [
    ({"tier": "E"}, "tier"),
    ({"tier": "a"}, "tier"),
    ({"display_name": "   "}, "display_name"),
    ({"display_name": "名" * 51}, "display_name"),
])
def test_bad_tier_or_name_is_422_naming_the_field_and_changes_nothing(book, client, counts, body, field):
    consultant, card, _ = book
    before = counts()
    response = client.patch(f"{CLIENTS}/{card['id']}", json=body, headers=consultant.auth)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {field}
    assert counts() == before
    assert client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).get_json() == card


# --- tags ----------------------------------------------------------------------------------------

def test_tag_vocabulary_lists_the_predefined_choices_and_free_tags(book, client):
    consultant, _, _ = book
    vocabulary = client.get(f"{CLIENTS}/tag-vocabulary", headers=consultant.auth).get_json()
    by_category = {c["category"]: c for c in vocabulary["categories"]}
    assert list(by_category) == ["budget", "layout", "purpose", "financing", "free"]
    assert by_category["budget"]["label"] == "预算" and "300-500万" in by_category["budget"]["values"]
    assert by_category["financing"]["values"] == ["全款", "商贷", "公积金", "组合贷"]
    assert by_category["free"] == {"category": "free", "label": "自定义标签", "values": [], "free": True,
                                   "max_length": 20}
    assert [t["tier"] for t in vocabulary["tiers"]] == ["A", "B", "C", "D"]


def test_tags_replace_the_set_trimmed_and_without_duplicates(book, client):
    consultant, card, _ = book
    url = f"{CLIENTS}/{card['id']}/tags"
    first = client.put(url, headers=consultant.auth, json={"tags": [
        {"category": "budget", "value": "300-500万"}, {"category": "purpose", "value": "学区"},
        {"category": "purpose", "value": "改善"}, {"category": "free", "value": "  周末看房 "},
        {"category": "free", "value": "周末看房"}]})
    assert first.status_code == 200, first.get_json()
    assert [(t["category"], t["value"]) for t in first.get_json()["tags"]] == [
        ("budget", "300-500万"), ("purpose", "学区"), ("purpose", "改善"), ("free", "周末看房")]
    assert first.get_json()["tags"][0]["category_label"] == "预算"

    second = client.put(url, headers=consultant.auth, json={"tags": [
        {"category": "purpose", "value": "改善"}, {"category": "financing", "value": "公积金"}]}).get_json()
    assert [(t["category"], t["value"]) for t in second["tags"]] == [("purpose", "改善"), ("financing", "公积金")]
    assert client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).get_json()["tags"] == second["tags"]

    assert client.put(url, headers=consultant.auth, json={"tags": []}).get_json()["tags"] == []


@pytest.mark.parametrize("tags, fields", [
    ([{"category": "budget", "value": "1000万"}], {"tags": {"0": {"value"}}}),
    ([{"category": "layout", "value": "三居"}, {"category": "layout", "value": "三室"}], {"tags": {"1": {"value"}}}),
    ([{"category": "free", "value": "   "}], {"tags": {"0": {"value"}}}),
    ([{"category": "hobby", "value": "钓鱼"}], {"tags": {"0": {"category"}}}),
    ([{"category": "free", "value": "超" * 21}], {"tags": {"0": {"value"}}}),
    ([{"category": "free"}], {"tags": {"0": {"value"}}}),
])
def test_bad_tags_are_422_naming_the_tag_and_field_and_change_nothing(book, client, counts, tags, fields):
    consultant, card, _ = book
    client.put(f"{CLIENTS}/{card['id']}/tags", headers=consultant.auth,
               json={"tags": [{"category": "purpose", "value": "刚需"}]})
    before = counts()

    response = client.put(f"{CLIENTS}/{card['id']}/tags", headers=consultant.auth, json={"tags": tags})

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    named = {key: {i: set(v) for i, v in value.items()} for key, value in error["details"]["fields"].items()}
    assert named == fields
    assert counts() == before
    tags_now = client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).get_json()["tags"]
    assert [(t["category"], t["value"]) for t in tags_now] == [("purpose", "刚需")]


def test_the_book_filters_by_tier_tag_and_name_and_pages(world, client):
    consultant = world.operating_consultant()
    project_id = world.project()
    names = ["周先生", "吴女士", "郑先生"]
    for name in names:
        world.register(consultant, project_id, name=name)
    cards = {c["display_name"]: c for c in client.get(CLIENTS, headers=consultant.auth).get_json()["items"]}
    client.patch(f"{CLIENTS}/{cards['吴女士']['id']}", json={"tier": "A"}, headers=consultant.auth)
    client.put(f"{CLIENTS}/{cards['郑先生']['id']}/tags", headers=consultant.auth,
               json={"tags": [{"category": "financing", "value": "全款"}]})

    def names_for(**query):
        page = client.get(CLIENTS, query_string=query, headers=consultant.auth).get_json()
        return [c["display_name"] for c in page["items"]], page["total"]

    assert names_for(tier="A") == (["吴女士"], 1)
    assert names_for(tag="全款") == (["郑先生"], 1)
    assert names_for(q="先生")[1] == 2
    assert names_for(q="%") == ([], 0)  # a wildcard is a character, not a pattern
    # Most recently changed first; two per page.
    assert names_for(per_page=2, page=1) == (["郑先生", "吴女士"], 3)
    assert names_for(per_page=2, page=2) == (["周先生"], 3)


# --- notes and reminders ---------------------------------------------------------------------------

def test_notes_are_listed_newest_first_and_the_card_shows_the_next_contact(book, client):
    consultant, card, _ = book
    url = f"{CLIENTS}/{card['id']}/notes"
    later = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    sooner = (utcnow() + timedelta(days=1)).replace(microsecond=0)

    first = client.post(url, json={"text": "首次电话，预算 400 万，想看三居", "next_contact_at": later.isoformat()},
                        headers=consultant.auth)
    assert first.status_code == 201, first.get_json()
    assert datetime.fromisoformat(first.get_json()["next_contact_at"]) == later
    assert first.get_json()["reminded_at"] is None
    client.post(url, json={"text": "  周末带看意向  ", "next_contact_at": sooner.isoformat()}, headers=consultant.auth)
    client.post(url, json={"text": "发了楼书"}, headers=consultant.auth)

    notes = client.get(url, headers=consultant.auth).get_json()
    assert notes["total"] == 3
    assert [n["text"] for n in notes["items"]] == ["发了楼书", "周末带看意向", "首次电话，预算 400 万，想看三居"]
    shown = client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).get_json()
    assert datetime.fromisoformat(shown["next_contact_at"]) == sooner


@pytest.mark.parametrize("body, field", [
    ({"text": "   "}, "text"),
    ({"text": "x" * 1001}, "text"),
    ({"text": "回访", "next_contact_at": "2020-01-01T10:00:00+08:00"}, "next_contact_at"),
    ({"text": "回访", "next_contact_at": "2099-01-01T10:00:00+08:00"}, "next_contact_at"),
    ({"text": "回访", "next_contact_at": "2030-01-01T10:00:00"}, "next_contact_at"),  # no offset
])
def test_bad_notes_are_422_naming_the_field_and_change_nothing(book, client, counts, body, field):
    consultant, card, _ = book
    before = counts()
    response = client.post(f"{CLIENTS}/{card['id']}/notes", json=body, headers=consultant.auth)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {field}
    assert counts() == before


def test_a_due_follow_up_reminds_its_consultant_once(book, world, client, app):
    from estate_platform.crm.tasks import send_follow_up_reminders_task

    consultant, card, _ = book
    soon = utcnow() + timedelta(hours=1)
    later = utcnow() + timedelta(days=2)
    for text, when in (("约了看样板间", soon), ("月底再问", later)):
        client.post(f"{CLIENTS}/{card['id']}/notes", json={"text": text, "next_contact_at": when.isoformat()},
                    headers=consultant.auth)
    run_at = (utcnow() + timedelta(hours=2)).isoformat()

    assert send_follow_up_reminders_task.delay(run_at).get() == 1
    assert send_follow_up_reminders_task.delay(run_at).get() == 0  # a note reminds once

    inbox = client.get("/api/mp/v1/notifications", headers=consultant.auth).get_json()
    reminders = [n for n in inbox["items"] if n["kind"] == "follow_up_due"]
    assert len(reminders) == 1
    assert reminders[0]["title"] == "客户跟进提醒"
    assert "周先生" in reminders[0]["body"] and "约了看样板间" in reminders[0]["body"]
    assert reminders[0]["payload"]["client_id"] == card["id"]
    notes = client.get(f"{CLIENTS}/{card['id']}/notes", headers=consultant.auth).get_json()["items"]
    assert {n["text"]: n["reminded_at"] is not None for n in notes} == {"约了看样板间": True, "月底再问": False}
    # The card now points at the reminder still waiting.
    shown = client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).get_json()
    assert datetime.fromisoformat(shown["next_contact_at"]) == later


def test_reminders_go_out_in_bounded_batches(book, client, app):
    from estate_platform.crm.services import send_follow_up_reminders
    from estate_platform.db import commit, db

    consultant, card, _ = book
    soon = (utcnow() + timedelta(minutes=30)).isoformat()
    for i in range(3):
        client.post(f"{CLIENTS}/{card['id']}/notes", json={"text": f"第{i}次", "next_contact_at": soon},
                    headers=consultant.auth)
    with app.app_context():
        later = utcnow() + timedelta(hours=1)
        assert send_follow_up_reminders(db.session, now=later, limit=2) == 2
        commit(db.session)
        assert send_follow_up_reminders(db.session, now=later, limit=2) == 1
        commit(db.session)
        assert send_follow_up_reminders(db.session, now=later, limit=2) == 0


@pytest.mark.postgres
def test_a_note_another_worker_is_reminding_is_skipped(book, client, app, database_url):
    from sqlalchemy import create_engine, text

    from estate_platform.crm.services import send_follow_up_reminders
    from estate_platform.db import db

    consultant, card, _ = book
    soon = (utcnow() + timedelta(minutes=30)).isoformat()
    note = client.post(f"{CLIENTS}/{card['id']}/notes", json={"text": "回访", "next_contact_at": soon},
                       headers=consultant.auth).get_json()
    engine = create_engine(database_url)
    try:
        with engine.connect() as other_worker, other_worker.begin():
            other_worker.execute(text("SELECT id FROM follow_up_notes WHERE id = :id FOR UPDATE"), {"id": note["id"]})
            with app.app_context():
                assert send_follow_up_reminders(db.session, now=utcnow() + timedelta(hours=1)) == 0
                db.session.rollback()
    finally:
        engine.dispose()


# --- isolation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None),
    ("PATCH", "", {"tier": "D"}),
    ("PUT", "/tags", {"tags": [{"category": "purpose", "value": "投资"}]}),
    ("GET", "/notes", None),
    ("POST", "/notes", {"text": "偷看一下"}),
])
def test_another_consultants_client_is_not_found_and_unchanged(book, world, client, counts, method, suffix, body):
    owner, card, phone = book
    client.post(f"{CLIENTS}/{card['id']}/notes", json={"text": "只有我能看"}, headers=owner.auth)
    other = world.operating_consultant(name="李顾问")
    before = counts()

    response = client.open(f"{CLIENTS}/{card['id']}{suffix}", method=method, json=body, headers=other.auth)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "client_not_found"
    assert "只有我能看" not in response.get_data(as_text=True) and phone not in response.get_data(as_text=True)
    assert counts() == before
    assert client.get(CLIENTS, headers=other.auth).get_json() == {"items": [], "total": 0, "page": 1, "per_page": 20}
    assert client.get(f"{CLIENTS}/{card['id']}", headers=owner.auth).get_json()["tier"] is None


def test_an_unknown_client_is_404(book, client):
    consultant, _, _ = book
    response = client.get(f"{CLIENTS}/999999", headers=consultant.auth)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "client_not_found"


def test_a_suspended_consultant_reads_his_book_but_cannot_change_it(book, world, client, counts):
    consultant, card, _ = book
    suspended = client.post(f"/admin/api/v1/consultants/{consultant.id}/suspend", json={"reason": "违规调查"},
                            headers=world.staff_auth("operations"))
    assert suspended.status_code == 200, suspended.get_json()
    before = counts()

    assert client.get(f"{CLIENTS}/{card['id']}", headers=consultant.auth).status_code == 200
    for method, suffix, body in (("PATCH", "", {"tier": "A"}), ("POST", "/notes", {"text": "回访"}),
                                 ("PUT", "/tags", {"tags": []})):
        response = client.open(f"{CLIENTS}/{card['id']}{suffix}", method=method, json=body, headers=consultant.auth)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "consultant_inactive"
    assert counts() == before


# --- the funnel --------------------------------------------------------------------------------------

def confirm_visit_row(app, registration_id: int, status: str = "confirmed") -> None:
    """A visit as the visits module records it (inserted directly: this is the CRM's test)."""
    import secrets

    from estate_platform.db import db
    from estate_platform.visits.models import Visit
    with app.app_context():
        now = utcnow()
        db.session.add(Visit(registration_id=registration_id, scheduled_at=now, check_in_code=secrets.token_hex(4),
                             status=status, confirmed_at=now if status == "confirmed" else None,
                             confirmed_by_type="staff" if status == "confirmed" else None, created_at=now))
        db.session.commit()


def backdate_registration(app, registration_id: int, days: int) -> None:
    from estate_platform.db import db
    from estate_platform.registrations.models import Registration
    with app.app_context():
        registration = db.session.get(Registration, registration_id)
        registration.created_at = registration.created_at - timedelta(days=days)
        db.session.commit()


def test_funnel_counts_registrations_and_confirmed_visits_with_rates_in_basis_points(world, client, app):
    consultant = world.operating_consultant()
    other = world.operating_consultant(name="李顾问")
    project_a, project_b = world.project(), world.project()
    a = [world.register(consultant, project_a)["id"] for _ in range(3)]
    b = world.register(consultant, project_b)["id"]
    confirm_visit_row(app, a[0])
    confirm_visit_row(app, a[0])  # a second confirmed visit is still one visited registration
    confirm_visit_row(app, a[1], status="scheduled")  # booked, not confirmed: no visit yet
    confirm_visit_row(app, world.register(other, project_a)["id"])  # someone else's
    old = world.register(consultant, project_b)["id"]
    backdate_registration(app, old, days=40)
    confirm_visit_row(app, old)

    funnel = client.get(f"{CLIENTS}/funnel", headers=consultant.auth)

    assert funnel.status_code == 200, funnel.get_json()
    body = funnel.get_json()
    today = local_date(utcnow())
    assert body["to"] == today.isoformat() and body["from"] == (today - timedelta(days=29)).isoformat()
    assert body["stages"] == [
        {"stage": "registrations", "label": "报备", "count": 4, "rate_bps": None},
        {"stage": "visits", "label": "到访", "count": 1, "rate_bps": 2500},
    ]
    by_project = client.get(f"{CLIENTS}/funnel", query_string={"project_id": project_a},
                            headers=consultant.auth).get_json()
    assert [s["count"] for s in by_project["stages"]] == [3, 1] and by_project["stages"][1]["rate_bps"] == 3333
    assert by_project["project_id"] == project_a
    # The wider range takes in the old registration and its visit.
    wide = client.get(f"{CLIENTS}/funnel", headers=consultant.auth, query_string={
        "from": (today - timedelta(days=60)).isoformat(), "to": today.isoformat()}).get_json()
    assert [s["count"] for s in wide["stages"]] == [5, 2] and wide["stages"][1]["rate_bps"] == 4000
    assert not any(isinstance(s["rate_bps"], float) for s in wide["stages"])
    # Nothing is reported about deals yet: there is no deal record to count.
    assert "deals" not in {s["stage"] for s in wide["stages"]}
    # Before any registration: zeros, not an error.
    empty = client.get(f"{CLIENTS}/funnel", headers=consultant.auth, query_string={
        "from": "2020-01-01", "to": "2020-01-31"}).get_json()
    assert [(s["count"], s["rate_bps"]) for s in empty["stages"]] == [(0, None), (0, 0)]


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
    ({"from": "2026-13-01"}, "from"),
    ({"to": "not-a-date"}, "to"),
])
def test_a_bad_funnel_range_is_422_naming_the_field(book, client, query, field):
    consultant, _, _ = book
    response = client.get(f"{CLIENTS}/funnel", query_string=query, headers=consultant.auth)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {field}
