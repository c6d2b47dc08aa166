"""Admin pages for reconciling a developer's sales list (/admin/reconciliations/):
the upload form, the mapping step (a dropdown per field, pre-filled from the developer's
remembered mapping or the suggestion, with sample rows), and the result page with its
progress (polled by ``reconciliation.js``), counts, filterable rows and the export.
The same services as /admin/api/v1/reconciliations."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, send_file, url_for

from estate_platform.clock import local_date
from estate_platform.db import after_commit, db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.projects.models import Project
from estate_platform.reconciliation import FIELDS
from estate_platform.reconciliation import services as reconciliation
from estate_platform.reconciliation.mapping import FIELD_LABELS, REQUIRED_FIELDS
from estate_platform.reconciliation.models import CATEGORIES, CATEGORY_LABELS, MATCH_LABELS, STATUS_LABELS
from estate_platform.reconciliation.tasks import storage_dir
from estate_platform.visits import storage

from .forms import Unreadable, day, field_errors, refusal_message
from .pages import staff_page

bp = Blueprint("admin_reconciliations", __name__, url_prefix="/admin/reconciliations", template_folder="templates")

WORKERS = ("admin", "operations")
PER_PAGE = 50
_SHA256 = re.compile(r"[0-9a-f]{64}")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _labels() -> dict:
    return {"CATEGORY_LABELS": CATEGORY_LABELS, "MATCH_LABELS": MATCH_LABELS, "STATUS_LABELS": STATUS_LABELS,
            "FIELD_LABELS": FIELD_LABELS, "FIELDS": FIELDS, "REQUIRED_FIELDS": REQUIRED_FIELDS,
            "CATEGORIES": CATEGORIES}


def _projects() -> list[Project]:
    return list(db.session.scalars(db.select(Project).order_by(Project.name)))


def _render_list(form=None, error: str | None = None, errors=None, status: int = 200):
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = reconciliation.list_uploads(db.session, page=page, per_page=20)
    today = local_date(utcnow())
    defaults = {"period_from": (today.replace(day=1) - timedelta(days=1)).replace(day=1).isoformat(),
                "period_to": today.isoformat()}
    return render_template("admin/reconciliations/list.html", items=items, total=total, page=page, per_page=20,
                           projects=_projects(), form={**defaults, **(form or {})}, error=error, errors=errors or {},
                           **_labels()), status


@bp.route("/", methods=["GET"])
@staff_page(*WORKERS)
def upload_list():
    return _render_list()


def _period(form: dict) -> tuple:
    errors = {}
    values = {}
    for name in ("period_from", "period_to"):
        try:
            values[name] = day(form.get(name, ""))
        except Unreadable as problem:
            errors[name] = [str(problem)]
    return values, errors


def _project_id(text: str) -> int:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else 0


@bp.route("/", methods=["POST"])
@staff_page(*WORKERS)
def upload_start():
    """Step 1: keep the file aside (content-addressed) and show the mapping step."""
    form = {name: request.form.get(name, "")[:20] for name in ("project_id", "period_from", "period_to")}
    _, errors = _period(form)
    file = request.files.get("file")
    if file is None or not file.filename:
        errors["file"] = ["请选择要上传的销售台账文件"]
    if errors:
        return _render_list(form, "；".join(m for ms in errors.values() for m in ms), errors, 422)
    content = file.read()
    try:
        found = reconciliation.preview(db.session, _project_id(form["project_id"]), content, file.filename)
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return _render_list(form, refusal_message(exc), field_errors(exc), exc.status)
    digest = storage.save(storage_dir(), content)
    return _render_mapping(form, digest, storage.sanitise_filename(file.filename), found)


def _render_mapping(form: dict, digest: str, filename: str, found: reconciliation.Preview, *,
                    error: str | None = None, status: int = 200, chosen: dict | None = None):
    proposed = chosen or found.proposed or {"columns": found.sheet.suggested_columns,
                                            "price_unit": found.sheet.suggested_price_unit}
    project = db.session.get(Project, _project_id(form["project_id"]))
    return render_template("admin/reconciliations/mapping.html", form=form, digest=digest, filename=filename,
                           preview=found.sheet, remembered=found.remembered, proposed=proposed, project=project,
                           error=error, **_labels()), status


@bp.route("/confirm", methods=["POST"])
@staff_page(*WORKERS)
def upload_confirm():
    """Step 2: the confirmed mapping; the list is reconciled in the background."""
    form = {name: request.form.get(name, "")[:20] for name in ("project_id", "period_from", "period_to")}
    digest = request.form.get("digest", "")
    filename = request.form.get("filename", "")[:200]
    if not _SHA256.fullmatch(digest) or not storage.exists(storage_dir(), digest):
        flash("上传的文件已失效，请重新选择文件", "error")
        return redirect(url_for("admin_reconciliations.upload_list"))
    content = storage.path_for(storage_dir(), digest).read_bytes()
    columns = {name: request.form.get(f"column_{name}", "")[:200] for name in FIELDS}
    mapping = {"columns": {k: v for k, v in columns.items() if v},
               "price_unit": request.form.get("price_unit") or None,
               "direct_channels": [w.strip() for w in re.split(r"[,，、\s]+", request.form.get("direct_channels", "")[:500])
                                   if w.strip()]}
    period, errors = _period(form)
    try:
        if errors:
            raise ValidationFailed(errors)
        upload, created = reconciliation.create_upload(
            db.session, g.staff, project_id=_project_id(form["project_id"]), period_from=period["period_from"],
            period_to=period["period_to"], filename=filename, content=content, mapping=mapping,
            storage_dir=storage_dir(), now=utcnow())
    except DomainError as exc:
        if exc.status >= 500:
            raise
        db.session.rollback()
        found = reconciliation.preview(db.session, _project_id(form["project_id"]), content, filename)
        return _render_mapping(form, digest, filename, found, error=refusal_message(exc), status=exc.status,
                               chosen=mapping)
    if created:
        from estate_platform.reconciliation.tasks import run_reconciliation_task
        upload_id = upload.id
        after_commit(db.session, lambda: run_reconciliation_task.delay(upload_id))
        flash("台账已上传，正在后台核对", "success")
    else:
        flash(f"该楼盘已上传过内容相同的文件（{upload.filename}），以下是当时的核对结果；不会重复立案", "success")
    return redirect(url_for("admin_reconciliations.upload_detail", upload_id=upload.id))


@bp.route("/<int:upload_id>")
@staff_page(*WORKERS)
def upload_detail(upload_id):
    upload = reconciliation.get_upload(db.session, upload_id)
    category = request.args.get("category") or None
    if category not in (None, *CATEGORIES):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = reconciliation.list_rows(db.session, upload_id, category=category, page=page, per_page=PER_PAGE)
    return render_template("admin/reconciliations/detail.html", upload=upload, rows=rows, total=total, page=page,
                           per_page=PER_PAGE, category=category, progress=reconciliation.status_of(upload),
                           **_labels())


@bp.route("/<int:upload_id>/status")
@staff_page(*WORKERS)
def upload_status(upload_id):
    """What the result page polls while the list is being reconciled."""
    return jsonify(reconciliation.status_of(reconciliation.get_upload(db.session, upload_id)))


@bp.route("/<int:upload_id>/export")
@staff_page(*WORKERS)
def upload_export(upload_id):
    category = request.args.get("category") or None
    if category not in (None, *CATEGORIES):
        abort(400)
    upload, handle = reconciliation.export_rows(db.session, upload_id, category=category)
    return send_file(handle, mimetype=XLSX_TYPE, as_attachment=True, download_name=f"对账结果-{upload.id}.xlsx",
                     max_age=0)


@bp.route("/<int:upload_id>/file")
@staff_page(*WORKERS)
def upload_file(upload_id):
    upload, path = reconciliation.original_file(db.session, upload_id, storage_dir())
    return send_file(path, mimetype=XLSX_TYPE if upload.file_format == "xlsx" else "text/csv", as_attachment=True,
                     download_name=upload.filename, max_age=0)
