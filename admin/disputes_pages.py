"""Admin pages for disputes (争议): the list, a dispute with its timeline, statements and
decisions, the maker-checker forms, and the printable evidence pack (Chinese).

They mirror ``disputes_api`` over the same services. A refused action is rolled back and
its reason flashed on the dispute's page.
"""
from __future__ import annotations

import os
import uuid

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from estate_platform.consultants.models import Consultant
from estate_platform.db import db, utcnow
from estate_platform.disputes import decisions, evidence_pack, rules
from estate_platform.disputes import services as disputes
from estate_platform.disputes import terms as penalty_terms
from estate_platform.disputes.models import RESPONDENT_KINDS, SOURCES, STATUSES
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.phones import mask_phone
from estate_platform.visits.attachments import attachment_path

from .forms import Unreadable, day, field_errors, refusal_message, whole_number, yuan_to_cents
from .pages import staff_page

bp = Blueprint("admin_disputes", __name__, url_prefix="/admin/disputes", template_folder="templates")

WORKERS = ("operations", "admin")
READERS = ("operations", "admin", "finance")
PER_PAGE = 30
EVENT_LABELS = {"opened": "立案", "investigating": "开始调查", "statement": "当事人陈述", "decision_proposed": "提出裁决建议",
                "decided": "裁决生效", "withdrawn": "撤回"}
CHAIN_EVENT_LABELS = {"registered": "报备", "visit_confirmed": "到访确认", "expired": "报备过期", "lost": "报备失效",
                      "cancelled": "取消", "scheduled": "预约带看", "confirmed": "带看确认", "invalidated": "带看无效",
                      "attachment_added": "上传附件", "offered": "发起转介", "accepted": "接收转介",
                      "declined": "拒绝转介", "recorded": "录入认购", "stage_changed": "成交阶段变更",
                      "price_corrected": "成交价更正", "consultant_reassigned": "改判成交顾问"}
SUBJECT_LABELS = {"registration": "报备", "visit": "带看", "handoff": "转介", "deal": "成交"}
ACTOR_LABELS = {"consultant": "顾问", "staff": "员工", "buyer": "客户", "system": "系统"}
DECISION_STATUS_LABELS = {"proposed": "待审批", "approved": "已审批生效", "superseded": "已被新建议取代"}


def _labels() -> dict:
    return {"STATUS_LABELS": rules.STATUS_LABELS, "SOURCE_LABELS": rules.SOURCE_LABELS,
            "RESPONDENT_LABELS": rules.RESPONDENT_LABELS, "OUTCOME_LABELS": rules.OUTCOME_LABELS,
            "EVENT_LABELS": EVENT_LABELS, "CHAIN_EVENT_LABELS": CHAIN_EVENT_LABELS, "SUBJECT_LABELS": SUBJECT_LABELS,
            "ACTOR_LABELS": ACTOR_LABELS, "DECISION_STATUS_LABELS": DECISION_STATUS_LABELS,
            "can_work": g.staff.role in WORKERS, "masked": lambda phone: mask_phone(phone)}


def _back(dispute_id: int):
    return redirect(url_for("admin_disputes.dispute_detail", dispute_id=dispute_id))


def _refused(exc: DomainError, dispute_id: int):
    if exc.status == 404:
        raise exc
    db.session.rollback()
    flash(refusal_message(exc), "error")
    return _back(dispute_id)


# --- list and new ------------------------------------------------------------------------------------

@bp.route("/")
@staff_page(*READERS)
def dispute_list():
    status = request.args.get("status") or None
    source = request.args.get("source") or None
    kind = request.args.get("respondent_kind") or None
    if status not in (None, *STATUSES) or source not in (None, *SOURCES) or kind not in (None, *RESPONDENT_KINDS):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = disputes.list_disputes(db.session, status=status, source=source, respondent_kind=kind, page=page,
                                          per_page=PER_PAGE)
    return render_template("admin/disputes/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status, source=source, respondent_kind=kind, statuses=STATUSES, sources=SOURCES,
                           **_labels())


NEW_FIELDS = ("deal_id", "registration_id", "respondent_kind", "respondent_consultant_id", "claimant_consultant_id",
              "subject", "summary", "sale_price", "sold_on", "key")


def _optional_id(text: str, message: str) -> int | None:
    return whole_number(text, message) if text.strip() else None


@bp.route("/new", methods=["GET", "POST"])
@staff_page(*WORKERS)
def dispute_new():
    if request.method == "GET":
        form = {"respondent_kind": "consultant", "key": uuid.uuid4().hex,
                "deal_id": request.args.get("deal_id", ""), "registration_id": request.args.get("registration_id", "")}
        return render_template("admin/disputes/new.html", form=form, errors={}, error=None, **_labels())
    form = {name: request.form.get(name, "")[:5000] for name in NEW_FIELDS}
    errors: dict[str, list[str]] = {}
    values: dict = {}
    for name, message in (("deal_id", "成交编号须为数字"), ("registration_id", "报备编号须为数字"),
                          ("respondent_consultant_id", "顾问编号须为数字"), ("claimant_consultant_id", "顾问编号须为数字")):
        try:
            values[name] = _optional_id(form[name], message)
        except Unreadable as exc:
            errors[name] = [str(exc)]
    try:
        values["sale_price_cents"] = yuan_to_cents(form["sale_price"]) if form["sale_price"].strip() else None
    except Unreadable as exc:
        errors["sale_price_cents"] = [str(exc)]
    try:
        values["sold_on"] = day(form["sold_on"]) if form["sold_on"].strip() else None
    except Unreadable as exc:
        errors["sold_on"] = [str(exc)]
    if not errors:
        try:
            dispute, created = disputes.open_manual(
                db.session, g.staff, key=(form["key"] or uuid.uuid4().hex)[:64], now=utcnow(),
                respondent_kind=form["respondent_kind"], subject=form["subject"][:200], summary=form["summary"],
                **values)
        except ValidationFailed as exc:
            errors = field_errors(exc)
        except DomainError as exc:
            return render_template("admin/disputes/new.html", form=form, errors={}, error=refusal_message(exc),
                                   **_labels()), exc.status
        else:
            flash(f"已立案：争议 #{dispute.id}" if created else f"该争议已立案：#{dispute.id}", "success")
            return _back(dispute.id)
    db.session.rollback()
    return render_template("admin/disputes/new.html", form=form, errors=errors,
                           error="提交的数据有误，请按提示修改后重试", **_labels()), 422


# --- a dispute ----------------------------------------------------------------------------------------------

@bp.route("/<int:dispute_id>")
@staff_page(*READERS)
def dispute_detail(dispute_id):
    dispute = disputes.get_dispute(db.session, dispute_id)
    all_decisions = disputes.decisions_of(db.session, dispute)
    pending = next((d for d in all_decisions if d.status == "proposed"), None)
    applied = penalty_terms.terms_for(db.session, dispute)
    stake = penalty_terms.stake_for(db.session, dispute)
    consultants = {c.id: c for c in db.session.scalars(select(Consultant).where(Consultant.id.in_(
        {line["party_id"] for d in all_decisions for line in decisions.stake_lines_of(d)
         if line["party_type"] == "consultant"} or {0})))}
    return render_template("admin/disputes/detail.html", d=dispute, events=disputes.events_of(db.session, dispute),
                           statements=disputes.statements_of(db.session, dispute), decisions=all_decisions,
                           pending=pending, applied=applied, stake=stake, stake_lines_of=decisions.stake_lines_of,
                           preview_penalty=rules.penalty_cents(applied.terms, stake.cents)
                           if dispute.respondent_kind == "consultant" else 0,
                           is_open=dispute.status in rules.OPEN_STATUSES, consultants=consultants, **_labels())


@bp.route("/<int:dispute_id>/investigate", methods=["POST"])
@staff_page(*WORKERS)
def dispute_investigate(dispute_id):
    try:
        disputes.investigate(db.session, g.staff, dispute_id, note=request.form.get("note", "")[:2000], now=utcnow())
    except DomainError as exc:
        return _refused(exc, dispute_id)
    flash("已开始调查", "success")
    return _back(dispute_id)


@bp.route("/<int:dispute_id>/withdraw", methods=["POST"])
@staff_page(*WORKERS)
def dispute_withdraw(dispute_id):
    try:
        disputes.withdraw(db.session, dispute_id, reason=request.form.get("reason", "")[:500],
                          actor=disputes.Actor("staff", g.staff.id), now=utcnow())
    except DomainError as exc:
        return _refused(exc, dispute_id)
    flash("争议已撤回", "success")
    return _back(dispute_id)


@bp.route("/<int:dispute_id>/decision", methods=["POST"])
@staff_page(*WORKERS)
def dispute_propose(dispute_id):
    form = request.form
    try:
        penalty = yuan_to_cents(form["penalty"]) if form.get("penalty", "").strip() else None
        stake = yuan_to_cents(form["stake"]) if form.get("stake", "").strip() else None
        rightful = _optional_id(form.get("rightful_consultant_id", ""), "改判顾问编号须为数字")
        sale_price = yuan_to_cents(form["sale_price"]) if form.get("sale_price", "").strip() else None
        sold_on = day(form["sold_on"]) if form.get("sold_on", "").strip() else None
        decision = decisions.propose_decision(
            db.session, g.staff, dispute_id, outcome=form.get("outcome", ""), reason=form.get("reason", "")[:2000],
            penalty_cents=penalty, stake_cents=stake, rightful_consultant_id=rightful,
            sale_price_cents=sale_price, sold_on=sold_on, now=utcnow())
    except Unreadable as exc:
        return _refused(ValidationFailed({"amount": [str(exc)]}), dispute_id)
    except DomainError as exc:
        return _refused(exc, dispute_id)
    flash(f"已提出裁决建议：{rules.OUTCOME_LABELS[decision.outcome]}，须由另一位运营或管理员审批后生效", "success")
    return _back(dispute_id)


@bp.route("/<int:dispute_id>/approve", methods=["POST"])
@staff_page(*WORKERS)
def dispute_approve(dispute_id):
    try:
        decision_id = whole_number(request.form.get("decision_id", ""), "请选择要审批的裁决建议")
        decision = decisions.approve_decision(db.session, g.staff, dispute_id, decision_id, now=utcnow())
    except Unreadable as exc:
        return _refused(ValidationFailed({"decision_id": [str(exc)]}), dispute_id)
    except DomainError as exc:
        return _refused(exc, dispute_id)
    flash(f"裁决已生效：争议{rules.OUTCOME_LABELS[decision.outcome]}", "success")
    return _back(dispute_id)


@bp.route("/<int:dispute_id>/attachments/<int:attachment_id>")
@staff_page(*READERS)
def attachment(dispute_id, attachment_id):
    storage_dir = os.path.join(current_app.config["INSTANCE_PATH"], "uploads")
    found = disputes.staff_attachment(db.session, dispute_id, attachment_id, storage_dir=storage_dir)
    response = send_file(attachment_path(storage_dir, found), mimetype=found.content_type,
                         as_attachment=found.content_type == "application/pdf", download_name=found.filename,
                         conditional=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<int:dispute_id>/evidence-pack")
@staff_page(*READERS)
def evidence_pack_page(dispute_id):
    dispute = disputes.get_dispute(db.session, dispute_id)
    pack = evidence_pack.build(db.session, dispute, viewer=g.staff,
                               reveal_phone=request.args.get("reveal_phone") == "1", now=utcnow())
    return render_template("admin/disputes/evidence_pack.html", pack=pack, d=dispute,
                           payload=lambda record: evidence_pack.payload_for_people(pack, record),
                           events=disputes.events_of(db.session, dispute),
                           statements=disputes.statements_of(db.session, dispute),
                           decisions=disputes.decisions_of(db.session, dispute),
                           may_reveal=evidence_pack.may_reveal(g.staff), **_labels())

