"""Export jobs in the admin pages (后台导出, issue 13 §3).

Every export link of a list page gains "后台导出" (``static/export_jobs.js``): it starts a job
here with the link's filters, shows a progress bar that polls the job's status, then the
download link. Roles allowed to call buyers also get "导出完整号码" on kinds holding phones,
which asks for the purpose (logged). ``/admin/exports/jobs`` lists one's recent jobs;
``/admin/exports/full-phone-log`` lists every full-phone export by staff member.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from estate_platform import exports
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.exports import jobs, phones
from estate_platform.exports.tasks import send_after_commit, settings as job_settings

from .exports_api import job_file_response
from .pages import staff_page

bp = Blueprint("admin_export_jobs", __name__, url_prefix="/admin/exports")

ROLES = ("admin", "finance", "operations")
AUDITORS = ("admin",)  # as the per-buyer reveal log (admin/privacy_pages.py)
PER_PAGE = 20


@bp.app_context_processor
def _export_globals():
    def full_phone_kinds() -> str:
        """Kinds this staff member may export with full phones (for the list pages' script)."""
        staff = g.get("staff")
        if staff is None or not phones.may_export_full_phones(staff.role):
            return ""
        return ",".join(k.name for k in exports.load_kinds().values()
                        if k.full_phone_rows is not None and staff.role in k.roles)
    return {"export_full_phone_kinds": full_phone_kinds, "export_filter_text": filter_text}


def filter_text(kind_name: str, filters: dict) -> str:
    """A job's or a log record's filters as people read them: 楼盘 3，报备开始日期 2026-12-01."""
    kind = exports.load_kinds().get(kind_name)
    labels = {f.name: f.label for f in kind.filters} if kind else {}
    return "，".join(f"{labels.get(name, name)} {value}" for name, value in filters.items()) or "全部"


def status_of(job) -> dict:
    """What the progress bar needs (the page's own URLs, for a session cookie)."""
    return {"id": job.id, "kind": job.kind, "status": job.status, "status_label": job.status_label,
            "rows_done": job.rows_done, "rows_total": job.rows_total, "percent": job.percent, "error": job.error,
            "full_phones": job.full_phones,
            "status_url": url_for("admin_export_jobs.status", export_job_id=job.id),
            "file_url": url_for("admin_export_jobs.download", export_job_id=job.id) if job.status == "done" else None,
            "jobs_url": url_for("admin_export_jobs.job_list")}


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _filters(query: str) -> dict:
    """The export link's query string (``?status=reported&project_id=3``) as filters."""
    text = urlsplit(query).query if "?" in query else query
    return dict(parse_qsl(text[:2000], keep_blank_values=False))


@bp.route("/jobs", methods=["GET"])
@staff_page(*ROLES)
def job_list():
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    items, total = jobs.list_jobs(db.session, g.staff, page=page, per_page=PER_PAGE)
    titles = {name: kind.title for name, kind in exports.load_kinds().items()}
    allowed = [k for k in exports.load_kinds().values()
               if k.full_phone_rows is not None and g.staff.role in k.roles
               and phones.may_export_full_phones(g.staff.role)]
    return render_template("admin/exports/jobs.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           titles=titles, full_phone_kinds=allowed, status_of=status_of, now=utcnow())


@bp.route("/jobs", methods=["POST"])
@staff_page(*ROLES)
def start():
    """Start a job (the form or the list pages' script); JSON for the script, a redirect for the form."""
    full = request.form.get("full_phones") in ("1", "true", "on")
    try:
        job = jobs.start_job(db.session, g.staff, request.form.get("kind", "")[:40],
                             _filters(request.form.get("query", "")), full_phones=full,
                             purpose=request.form.get("purpose") if full else None, now=utcnow())
    except DomainError as exc:
        if not _wants_json():
            raise
        return jsonify(error={"code": exc.code, "message": exc.message, "details": exc.details}), exc.status
    send_after_commit(job.id)
    if _wants_json():
        return jsonify(status_of(job)), 202
    flash("已开始后台导出，完成后可在此下载", "success")
    return redirect(url_for("admin_export_jobs.job_list"))


@bp.route("/jobs/<int:export_job_id>/status")
@staff_page(*ROLES)
def status(export_job_id):
    return jsonify(status_of(jobs.visible_job(db.session, g.staff, export_job_id)))


@bp.route("/jobs/<int:export_job_id>/file")
@staff_page(*ROLES)
def download(export_job_id):
    return job_file_response(*jobs.file_of(db.session, g.staff, export_job_id, job_settings(), now=utcnow()))


@bp.route("/jobs/<int:export_job_id>/retry", methods=["POST"])
@staff_page(*ROLES)
def retry(export_job_id):
    job = jobs.retry_job(db.session, g.staff, export_job_id)
    send_after_commit(job.id)
    flash(f"导出任务 #{job.id} 已重新排队", "success")
    return redirect(url_for("admin_export_jobs.job_list"))


@bp.route("/full-phone-log")
@staff_page(*AUDITORS)
def full_phone_log():
    """Every full-phone export (完整号码导出日志), by staff member: the bulk side of the reveal log."""
    staff_user_id = request.args.get("staff_user_id", type=int)
    if staff_user_id is not None and not 1 <= staff_user_id <= 2**31 - 1:
        staff_user_id = None
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    items, total = phones.list_exports(db.session, staff_user_id=staff_user_id, page=page, per_page=PER_PAGE)
    titles = {name: kind.title for name, kind in exports.load_kinds().items()}
    return render_template("admin/exports/full_phone_log.html", items=items, total=total, page=page,
                           per_page=PER_PAGE, counts=phones.counts_by_staff(db.session), titles=titles,
                           staff_user_id=staff_user_id)
