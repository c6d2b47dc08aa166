"""Export jobs (后台导出, issue 13 §3): ``POST /admin/api/v1/export-jobs`` queues an XLSX that a
Celery task writes (eagerly here) with progress; the job is visible to its maker and admins; the
file downloads until it expires; a failing kind fails with a message and can be retried; the
admin pages start a job from a list page's export link and poll it."""
from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, select, text

from estate_platform.db import db
from estate_platform.exports import REGISTRY, jobs
from estate_platform.exports.models import ExportJob
from tests.conftest import now
from tests.integration.api_scene import csrf_from
from tests.integration.test_admin_deals_pages import sign_in
from tests.integration.test_exports import market, rows, workbook  # noqa: F401  (the fixture)

JOBS = "/admin/api/v1/export-jobs"


def start(client, auth, expect: int = 202, **body) -> dict:
    response = client.post(JOBS, json=body, headers=auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def job_of(client, auth, job_id: int) -> dict:
    response = client.get(f"{JOBS}/{job_id}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def export_dir(app) -> Path:
    return jobs.JobSettings.from_config(app.config).directory


def test_a_job_reaches_its_total_and_its_file_equals_the_direct_export(world, client, app, market):
    auth = world.staff_auth("operations")
    queued = start(client, auth, kind="registrations", filters={"project_id": market["project"]})
    assert queued["status"] == "queued" and queued["download_url"] is None  # the task runs after the commit
    job = job_of(client, auth, queued["id"])
    assert job["status"] == "done" and job["status_label"] == "已完成"
    assert job["rows_total"] == job["rows_done"] == 1 and job["percent"] == 100
    assert job["download_url"] == f"{JOBS}/{job['id']}/file"
    assert job["filters"] == {"project_id": market["project"]} and job["attempts"] == 1
    downloaded = client.get(job["download_url"], headers=auth)
    direct = client.get(f"/admin/api/v1/exports/registrations?project_id={market['project']}", headers=auth)
    assert rows(workbook(downloaded)) == rows(workbook(direct))
    assert downloaded.headers["X-Export-Rows"] == "1"
    assert "filename*=UTF-8''" in downloaded.headers["Content-Disposition"]
    assert b"13912345678" not in downloaded.get_data()  # masked, as every export


def test_progress_is_reported_every_n_rows_up_to_the_total(world, client, app, market, monkeypatch):
    for _ in range(3):
        world.register(market["consultant"], market["project"])
    app.config["EXPORT_PROGRESS_ROWS"] = 2
    reported: list[tuple[int, int]] = []
    monkeypatch.setattr(jobs, "progress_writer", lambda session: lambda job_id, done: reported.append((job_id, done)))
    auth = world.staff_auth("operations")
    job = job_of(client, auth, start(client, auth, kind="registrations")["id"])
    assert job["rows_total"] == job["rows_done"] == 5
    assert reported == [(job["id"], 2), (job["id"], 4)]


@pytest.mark.postgres
def test_on_postgresql_another_connection_sees_the_progress_while_the_file_is_written(world, client, app, market,
                                                                                        monkeypatch):
    for _ in range(3):
        world.register(market["consultant"], market["project"])
    app.config["EXPORT_PROGRESS_ROWS"] = 2
    seen: list[tuple[str, int, int]] = []
    real = jobs.progress_writer
    url = app.config["SQLALCHEMY_DATABASE_URI"]

    def spying_writer(session):
        write = real(session)

        def write_and_look(job_id, done):
            write(job_id, done)
            engine = create_engine(url)
            with engine.connect() as other:
                seen.append(tuple(other.execute(text("SELECT status, rows_done, rows_total FROM export_jobs "
                                                     "WHERE id = :id"), {"id": job_id}).one()))
            engine.dispose()
        return write_and_look
    monkeypatch.setattr(jobs, "progress_writer", spying_writer)
    auth = world.staff_auth("operations")
    job = job_of(client, auth, start(client, auth, kind="registrations")["id"])
    assert seen == [("running", 2, 5), ("running", 4, 5)]
    assert job["rows_done"] == job["rows_total"] == 5


def test_a_job_is_visible_only_to_its_maker_and_admins(world, client, app, market):
    maker = world.staff_auth("operations")
    job = start(client, maker, kind="registrations")
    other_id, username, password = world.staff("operations")
    token = client.post("/admin/api/v1/auth/login", json={"username": username, "password": password}).get_json()
    colleague = {"Authorization": f"Bearer {token['token']}"}
    for path in (f"{JOBS}/{job['id']}", f"{JOBS}/{job['id']}/file"):
        response = client.get(path, headers=colleague)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "export_job_not_found"
    assert client.get(f"{JOBS}?per_page=100", headers=colleague).get_json()["total"] == 0
    admin = world.staff_auth("admin")
    assert job_of(client, admin, job["id"])["status"] == "done"
    assert client.get(f"{JOBS}/{job['id']}/file", headers=admin).status_code == 200
    listed = client.get(JOBS, headers=maker).get_json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]


def test_a_role_that_cannot_export_the_kind_cannot_start_its_job(world, client, counts, market):
    finance, operations, site = (world.staff_auth(role) for role in ("finance", "operations", "site_staff"))
    before = counts()
    response = client.post(JOBS, json={"kind": "registrations"}, headers=finance)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "role_forbidden"
    response = client.post(JOBS, json={"kind": "deals"}, headers=operations)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "role_forbidden"
    response = client.post(JOBS, json={"kind": "deals"}, headers=site)
    assert response.status_code == 403
    assert counts() == before


def test_an_expired_file_is_deleted_by_the_sweep_and_answers_410(world, client, app, market):
    auth = world.staff_auth("operations")
    job = job_of(client, auth, start(client, auth, kind="registrations")["id"])
    with app.app_context():
        token = db.session.get(ExportJob, job["id"]).file_token
    path = export_dir(app) / f"{token}.xlsx"
    assert path.is_file() and len(token) >= 40  # an unguessable name
    assert str(path).startswith(str(Path(app.config["INSTANCE_PATH"])))
    from estate_platform.exports.tasks import sweep_export_jobs_task
    with app.app_context():
        early = sweep_export_jobs_task.run((now() + timedelta(hours=23)).isoformat())
        late = sweep_export_jobs_task.run((now() + timedelta(hours=25)).isoformat())
    assert early["expired"] == 0 and late["expired"] == 1
    assert not path.exists()
    response = client.get(f"{JOBS}/{job['id']}/file", headers=auth)
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "export_file_expired"
    after = job_of(client, auth, job["id"])
    assert after["status"] == "expired" and after["download_url"] is None


def test_a_file_past_its_expiry_answers_410_before_the_sweep_runs(world, client, app, market):
    auth = world.staff_auth("operations")
    job_id = start(client, auth, kind="registrations")["id"]
    with app.app_context():
        db.session.get(ExportJob, job_id).expires_at = now() - timedelta(seconds=1)
        db.session.commit()
    response = client.get(f"{JOBS}/{job_id}/file", headers=auth)
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "export_file_expired"


def test_a_failing_kind_fails_with_a_message_and_a_retry_rewrites_the_file(world, client, app, market, monkeypatch):
    kind = REGISTRY["registrations"]

    def broken(session, filters):
        yield from kind.rows(session, filters)
        raise RuntimeError("connection lost mid-stream: SELECT secret")
    monkeypatch.setitem(REGISTRY, "registrations", dataclasses.replace(kind, rows=broken))
    auth = world.staff_auth("operations")
    job = job_of(client, auth, start(client, auth, kind="registrations")["id"])
    assert job["status"] == "failed" and job["error"] == jobs.FAILED_MESSAGE and "SELECT" not in job["error"]
    assert job["download_url"] is None
    response = client.get(f"{JOBS}/{job['id']}/file", headers=auth)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "export_job_not_ready"
    assert list(export_dir(app).glob("*")) == []  # no partial file is left behind
    monkeypatch.setitem(REGISTRY, "registrations", kind)
    retried = client.post(f"{JOBS}/{job['id']}/retry", headers=auth)
    assert retried.status_code == 202, retried.get_json()
    done = job_of(client, auth, job["id"])
    assert done["status"] == "done" and done["attempts"] == 2 and done["error"] is None
    assert len(rows(workbook(client.get(done["download_url"], headers=auth)))) == 3
    again = client.post(f"{JOBS}/{job['id']}/retry", headers=auth)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "export_job_not_retryable"


def test_a_job_whose_worker_died_is_failed_by_the_sweep_and_can_be_retried(world, client, app, market):
    from estate_platform.exports.tasks import run_export_job_task, sweep_export_jobs_task
    auth = world.staff_auth("operations")
    job_id = start(client, auth, kind="registrations")["id"]
    with app.app_context():  # as if the worker had been killed while writing, five minutes ago
        job = db.session.get(ExportJob, job_id)
        job.status, job.started_at, job.finished_at, job.expires_at = "running", now() - timedelta(minutes=5), None, None
        db.session.commit()
        # A redelivery so soon leaves it alone (another worker may still be writing it) …
        assert run_export_job_task.run(job_id) == "running"
        assert sweep_export_jobs_task.run()["failed"] == 0
        # … and an hour later the sweep gives it up, so that its maker can retry it.
        assert sweep_export_jobs_task.run((now() + timedelta(minutes=61)).isoformat())["failed"] == 1
    assert job_of(client, auth, job_id)["error"] == jobs.STALE_MESSAGE
    assert client.post(f"{JOBS}/{job_id}/retry", headers=auth).status_code == 202
    assert job_of(client, auth, job_id)["status"] == "done"
    with app.app_context():  # running the task again changes nothing
        assert run_export_job_task.run(job_id) == "done"
        assert db.session.get(ExportJob, job_id).attempts == 2  # the first run and the retry


def test_a_queued_job_whose_task_was_lost_is_sent_again_by_the_sweep(world, client, app, market, monkeypatch):
    from estate_platform.exports import tasks
    monkeypatch.setattr(tasks, "send_after_commit", lambda job_id: None)  # the broker was down
    import admin.exports_api
    monkeypatch.setattr(admin.exports_api, "send_after_commit", lambda job_id: None)
    auth = world.staff_auth("operations")
    job_id = start(client, auth, kind="registrations")["id"]
    assert job_of(client, auth, job_id)["status"] == "queued"
    with app.app_context():
        assert tasks.sweep_export_jobs_task.run()["resend"] == 0  # too early: it may still be in the queue
        assert tasks.sweep_export_jobs_task.run((now() + timedelta(minutes=20)).isoformat())["resend"] == 1
    assert job_of(client, auth, job_id)["status"] == "done"


@pytest.mark.parametrize("body, field", [
    ({"kind": "registrations", "filters": {"project_id": 0}}, "filters.project_id"),
    ({"kind": "registrations", "filters": {"project_id": 2 ** 31}}, "filters.project_id"),
    ({"kind": "registrations", "filters": {"project_id": {"$gt": 1}}}, "filters.project_id"),
    ({"kind": "registrations", "filters": {"project_id": [1, 2]}}, "filters.project_id"),
    ({"kind": "registrations", "filters": {"status": "reported\u0000"}}, "filters.status"),
    ({"kind": "registrations", "filters": {"created_from": "2026-13-45"}}, "filters.created_from"),
    ({"kind": "registrations", "filters": {"created_from": "2026-02-01", "created_to": "2026-01-01"}},
     "filters.created_to"),
    ({"kind": "registrations", "filters": {"no_such_filter": "1"}}, "filters.no_such_filter"),
    ({"kind": "registrations", "filters": {f"f{i}": "1" for i in range(21)}}, "filters"),
    ({"kind": "registrations", "filters": {"x" * 41: "1"}}, "filters"),
    ({"kind": "no-such-kind"}, "kind"),
    ({"kind": "registrations\u0000"}, "kind"),
    ({"kind": "registrations", "purpose": "x" * 101}, "purpose"),
    ({"kind": "registrations", "full_phones": "yes please"}, "full_phones"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_hostile_input_is_refused_naming_the_field_and_changes_nothing(world, client, counts, market, body, field):
    auth = world.staff_auth("operations")
    before = counts()
    response = client.post(JOBS, json=body, headers=auth)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"], response.get_json()
    assert counts() == before


def test_the_list_page_links_start_a_job_and_the_page_polls_it_to_a_download(world, client, app, market):
    sign_in(world, client, "operations")
    page = client.get("/admin/registrations/")
    html = page.get_data(as_text=True)
    assert "export_jobs.js" in html and 'data-full-phone-kinds="registrations"' in html and "导出任务" in html
    script = client.get("/admin/static/export_jobs.js")
    assert script.status_code == 200 and "后台导出" in script.get_data(as_text=True)
    csrf = csrf_from(html)
    started = client.post("/admin/exports/jobs", headers={"Accept": "application/json"}, data={
        "csrf_token": csrf, "kind": "registrations", "query": f"project_id={market['project']}&status="})
    assert started.status_code == 202, started.get_data(as_text=True)
    status = client.get(started.get_json()["status_url"]).get_json()
    assert status["status"] == "done" and status["rows_done"] == status["rows_total"] == 1
    sheet = workbook(client.get(status["file_url"]))
    assert len(rows(sheet)) == 2
    listing = client.get("/admin/exports/jobs").get_data(as_text=True)
    assert "报备记录" in listing and "已完成" in listing and status["file_url"] in listing
    refused = client.post("/admin/exports/jobs", headers={"Accept": "application/json"},
                          data={"csrf_token": csrf, "kind": "deals", "query": ""})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "role_forbidden"


def test_a_finance_clerk_sees_no_full_phone_action_and_only_her_jobs(world, client, app, market):
    sign_in(world, client, "finance")
    html = client.get("/admin/deals/").get_data(as_text=True)
    assert 'data-full-phone-kinds=""' in html
    page = client.get("/admin/exports/jobs").get_data(as_text=True)
    assert "暂无导出任务" in page and "full-phone-form" not in page
