"""Admin pages for revisits (回访): the queue operations work, one task at a time.

The list filters by project, kind, due and outcome; 「领取下一条」 takes the soonest-due task
nobody holds, 「立即生成回访任务」 runs the scheduler now. The task page shows the script, the
masked phone (the full number only after 「查看完整号码」, logged) and the outcome form.
They mirror ``revisits_api`` over the same services. A refusal rolls the attempt back and
says why.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from estate_platform.clock import SHANGHAI, local_date, start_of_local_day
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.projects import services as projects
from estate_platform.revisits import rules, scripts
from estate_platform.revisits import services as revisits
from estate_platform.revisits.tasks import sample_key

from .forms import Unreadable, day, field_errors, refusal_message
from .pages import staff_page

bp = Blueprint("admin_revisits", __name__, url_prefix="/admin/revisits", template_folder="templates")

CALLERS = ("operations", "admin")
PER_PAGE = 30
PROJECT_CHOICES = 500
DUE_LABELS = {"today": "今天及以前到期", "overdue": "已逾期", "all": "全部"}
FILTERS = ("project_id", "kind", "due", "status", "outcome")


def _settings() -> rules.Settings:
    return rules.Settings.from_config(current_app.config)


def _filters() -> dict:
    """The queue's filters from the query string (or the form that carried them along)."""
    source = request.values
    values = {"project_id": source.get("project_id", type=int) or None, "kind": source.get("kind") or None,
              "due": source.get("due") or "today", "status": source.get("status") or "open",
              "outcome": source.get("outcome") or None}
    if values["status"] == "any":
        values["status"] = None
    if (values["kind"] not in (None, *rules.KINDS) or values["due"] not in revisits.DUE_FILTERS
            or values["status"] not in (None, *rules.STATUSES) or values["outcome"] not in (None, *rules.OUTCOMES)):
        abort(400)
    return values


def _query(filters: dict) -> dict:
    """The filters as query-string values (``status=any`` for every status)."""
    query = {key: value for key, value in filters.items() if value}
    if filters.get("status") is None:
        query["status"] = "any"
    return query


def _labels() -> dict:
    now = utcnow()
    return {"KIND_LABELS": rules.KIND_LABELS, "OUTCOME_LABELS": rules.OUTCOME_LABELS,
            "REVISIT_STATUS_LABELS": rules.STATUS_LABELS, "DUE_LABELS": DUE_LABELS, "masked_phone": revisits.masked_phone,
            "claim_active": lambda r: revisits.claim_active(r, now),
            "overdue": lambda r: r.status == "open" and r.due_at < start_of_local_day(now), "mine": lambda r: revisits.holds_claim(r, g.staff, now),
            "now": now, "max_unreachable": _settings().max_unreachable, "claim_minutes": _settings().claim_minutes}


@bp.route("/")
@staff_page(*CALLERS)
def revisit_list():
    filters = _filters()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = revisits.list_revisits(db.session, now=utcnow(), page=page, per_page=PER_PAGE, **filters)
    choices, _ = projects.list_projects(db.session, now=utcnow(), staff=g.staff, per_page=PROJECT_CHOICES)
    return render_template("admin/revisits/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           filters=filters, query=_query(filters), project_choices=choices, kinds=rules.KINDS,
                           outcomes=rules.OUTCOMES, **_labels())


@bp.route("/schedule", methods=["POST"])
@staff_page(*CALLERS)
def schedule_now():
    created = revisits.schedule(db.session, now=utcnow(), settings=_settings(),
                                sample_key=sample_key(current_app.config))
    total = sum(created.values())
    if total:
        detail = "，".join(f"{rules.KIND_LABELS[k]} {n} 条" for k, n in created.items() if n)
        flash(f"已生成 {total} 条回访任务：{detail}", "success")
    else:
        flash("没有新的回访任务需要生成", "success")
    return redirect(url_for("admin_revisits.revisit_list", **_query(_filters())))


@bp.route("/next", methods=["POST"])
@staff_page(*CALLERS)
def claim_next():
    filters = _filters()
    revisit = revisits.claim_next(db.session, g.staff, now=utcnow(), settings=_settings(),
                                  project_id=filters["project_id"], kind=filters["kind"])
    if revisit is None:
        flash("队列中暂无可领取的回访任务", "success")
        return redirect(url_for("admin_revisits.revisit_list", **_query(filters)))
    return redirect(url_for("admin_revisits.revisit_detail", revisit_id=revisit.id))


def _render_detail(revisit, *, revealed: str | None = None, form: dict | None = None,
                   errors: dict | None = None, error: str | None = None, status: int = 200):
    return render_template("admin/revisits/detail.html", r=revisit, script=scripts.script_for(revisit),
                           calls=revisits.calls_of(db.session, revisit.id), revealed=revealed, form=form or {},
                           errors=errors or {}, error=error, today=local_date(utcnow()), outcomes=rules.OUTCOMES,
                           **_labels()), status


@bp.route("/<int:revisit_id>")
@staff_page(*CALLERS)
def revisit_detail(revisit_id):
    return _render_detail(revisits.get_revisit(db.session, revisit_id))


def _refused(exc: DomainError, revisit_id: int):
    """A refused action: nothing of it is kept; the reason is flashed on the task page."""
    if exc.status == 404:
        raise exc
    db.session.rollback()
    flash(refusal_message(exc), "error")
    return redirect(url_for("admin_revisits.revisit_detail", revisit_id=revisit_id))


@bp.route("/<int:revisit_id>/claim", methods=["POST"])
@staff_page(*CALLERS)
def claim(revisit_id):
    try:
        revisits.claim(db.session, g.staff, revisit_id, now=utcnow(), settings=_settings())
    except DomainError as exc:
        return _refused(exc, revisit_id)
    return redirect(url_for("admin_revisits.revisit_detail", revisit_id=revisit_id))


@bp.route("/<int:revisit_id>/release", methods=["POST"])
@staff_page(*CALLERS)
def release(revisit_id):
    try:
        revisits.release(db.session, g.staff, revisit_id, now=utcnow())
    except DomainError as exc:
        return _refused(exc, revisit_id)
    flash(f"已放弃回访 #{revisit_id}，任务已退回队列", "success")
    return redirect(url_for("admin_revisits.revisit_list"))


@bp.route("/<int:revisit_id>/reveal-phone", methods=["POST"])
@staff_page(*CALLERS)
def reveal_phone(revisit_id):
    """The full number, on this response only (never in a redirect or a flash); the read is logged."""
    try:
        phone = revisits.reveal_phone(db.session, g.staff, revisit_id, now=utcnow())
    except DomainError as exc:
        return _refused(exc, revisit_id)
    return _render_detail(revisits.get_revisit(db.session, revisit_id), revealed=phone)


@bp.route("/<int:revisit_id>/outcome", methods=["POST"])
@staff_page(*CALLERS)
def record_outcome(revisit_id):
    form = {name: request.form.get(name, "") for name in ("outcome", "agency", "bought_on", "note")}
    try:
        bought_on: date | None = day(form["bought_on"]) if form["bought_on"].strip() else None
    except Unreadable as exc:
        return _form_refused(revisit_id, form, ValidationFailed({"bought_on": [str(exc)]}))
    answer = revisits.Answer(outcome=form["outcome"], agency=form["agency"][:rules.AGENCY_MAX + 1] or None,
                             bought_on=bought_on, note=form["note"][:rules.NOTE_MAX + 1] or None)
    try:
        revisit = revisits.record_outcome(db.session, g.staff, revisit_id, answer, now=utcnow(), settings=_settings())
    except ValidationFailed as exc:
        return _form_refused(revisit_id, form, exc)
    except DomainError as exc:
        return _refused(exc, revisit_id)
    flash(_outcome_message(revisit), "success")
    return redirect(url_for("admin_revisits.revisit_list"))


def _form_refused(revisit_id: int, form: dict, exc: ValidationFailed):
    db.session.rollback()
    return _render_detail(revisits.get_revisit(db.session, revisit_id), form=form, errors=field_errors(exc),
                          error="提交的数据有误，请按提示修改后重试", status=exc.status)


def _outcome_message(revisit) -> str:
    if revisit.status == "open":
        return (f"回访 #{revisit.id} 未接通（第 {revisit.attempts} 次），"
                f"已安排 {revisit.due_at.astimezone(SHANGHAI).strftime('%m-%d %H:%M')} 起重试")
    message = f"回访 #{revisit.id} 已记录：{rules.OUTCOME_LABELS[revisit.outcome]}"
    if revisit.dispute_id:
        message += f"，与平台记录不符，已立案争议 #{revisit.dispute_id}"
    return message
