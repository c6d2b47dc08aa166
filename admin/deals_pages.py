"""Admin pages for deals (成交): site staff, finance and operations.

They mirror ``deals_api`` over the same services. Site staff's cancellations and back-dated
recordings become requests that platform staff decide on the requests page (/admin/deals/requests).
The forms speak the staff's units (``forms``: 元 and %, exact). A refusal re-renders the form
with the typed values and the reason, with the refusal's status, so the unit of work rolls the
attempt back.
"""
from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from estate_platform.clock import local_date
from estate_platform.consultants.models import Consultant
from estate_platform.db import db, utcnow
from estate_platform.deals import recognition
from estate_platform.deals import requests as deal_requests
from estate_platform.deals import services as deals
from estate_platform.deals.models import DEAL_REQUEST_STATUSES, DEAL_STAGES, DealChangeRequest
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import Buyer
from estate_platform.money import yuan
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH
from estate_platform.projects import services as projects

from .forms import Unreadable, bps_text, day, field_errors, refusal_message, whole_number, yuan_to_cents
from .pages import staff_page

bp = Blueprint("admin_deals", __name__, url_prefix="/admin/deals", template_folder="templates")

READERS = ("admin", "finance", "operations", "site_staff")
RECORDERS = ("admin", "finance", "site_staff")
FINANCE = ("admin", "finance")
ANALYSTS = ("admin", "finance", "operations")
PER_PAGE = 30
RECOGNISE_LIMIT = 5000
MAX_PRICE_CENTS = 10 ** 12  # as the JSON API: 100 亿元
PROJECT_CHOICES = 500

TRIGGER_LABELS = {"signed": "网签", "loan_disbursed": "放款", "paid_in_full": "全款到账"}
BASIS_LABELS = {"rate": "按成交价比例", "fixed": "每套固定金额"}
TIER_METRIC_LABELS = {"units": "当月成交套数", "amount": "当月成交额"}
LINE_ROLE_LABELS = {"platform_fee": "平台服务费", "referral": "转介人", "upline": "上级", "serving": "成交顾问",
                    "buyer_referral": "老带新推荐人"}
PARTY_LABELS = {"platform": "平台", "developer": "开发商", "consultant": "顾问", "buyer": "购房者（老业主）"}
ACCOUNT_LABELS = {"receivable": "应收佣金", "revenue": "平台收入", "pending": "待结算佣金", "available": "可提现佣金",
                  "owes": "欠款", "cash": "资金"}
EVENT_LABELS = {"recorded": "录入认购", "stage_changed": "阶段变更", "cancelled": "退房", "price_corrected": "成交价更正",
                "cancel_requested": "案场申请退房", "cancel_objected": "顾问提出异议", "cancel_rejected": "退房申请被驳回",
                "cancel_withdrawn": "退房申请已撤回"}
ACTOR_LABELS = {"consultant": "顾问", "staff": "员工", "buyer": "客户", "system": "系统"}
TIER_ROWS = 4
UPLINE_INPUTS = 3  # one more than allowed: a third level is typed, and refused by the service



def _refused_action(exc: DomainError, deal_id: int):
    """A refused action on the detail page: nothing of it is kept; the reason is flashed."""
    if exc.status == 404:
        raise exc
    db.session.rollback()
    flash(refusal_message(exc), "error")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))



# --- template helpers --------------------------------------------------------------------------------

def _buyer_phone(deal) -> str:
    return deals.buyer_phone_for(g.staff, deal)


def _pct(bps: int | None) -> str:
    return "—" if bps is None else f"{bps_text(bps)}%"


@bp.app_template_filter("yuan")
def _yuan_filter(cents: int | None) -> str:
    return "—" if cents is None else yuan(cents)


@bp.app_template_filter("ymd")
def _ymd(value) -> str:
    return value.isoformat()[:10] if value else "—"


def _labels() -> dict:
    return {"STAGE_LABELS": deals.STAGE_LABELS, "TRIGGER_LABELS": TRIGGER_LABELS, "BASIS_LABELS": BASIS_LABELS,
            "TIER_METRIC_LABELS": TIER_METRIC_LABELS, "LINE_ROLE_LABELS": LINE_ROLE_LABELS,
            "PARTY_LABELS": PARTY_LABELS, "ACCOUNT_LABELS": ACCOUNT_LABELS, "EVENT_LABELS": EVENT_LABELS,
            "ACTOR_LABELS": ACTOR_LABELS, "buyer_phone": _buyer_phone, "pct": _pct,
            "is_finance": g.staff.role in FINANCE, "can_record": g.staff.role in RECORDERS,
            "can_analyse": g.staff.role in ANALYSTS}


def _project_choices():
    items, _ = projects.list_projects(db.session, now=utcnow(), staff=g.staff, per_page=PROJECT_CHOICES)
    return items


def _today() -> date:
    return local_date(utcnow())


# --- deals: list ---------------------------------------------------------------------------------------

@bp.route("/")
@staff_page(*READERS)
def deal_list():
    stage = request.args.get("stage") or None
    if stage not in (None, *DEAL_STAGES):
        abort(400)
    project_id = request.args.get("project_id", type=int) or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = deals.list_for_staff(db.session, g.staff, project_id=project_id, stage=stage, page=page,
                                        per_page=PER_PAGE)
    return render_template("admin/deals/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           stage=stage, project_id=project_id, stages=DEAL_STAGES,
                           project_choices=_project_choices(), **_labels())


# --- deals: the new-deal form ----------------------------------------------------------------------------

DEAL_FORM_FIELDS = ("project_id", "buyer_phone", "unit", "price", "subscribed_on", "note")


def parse_deal_form(form) -> tuple[deals.NewDeal | None, dict[str, list[str]]]:
    """The form as a ``NewDeal``, or what could not be read (keyed by the service's field names)."""
    errors: dict[str, list[str]] = {}
    values: dict = {}
    readers = {"project_id": ("project_id", lambda t: whole_number(t, "请选择楼盘")),
               "price_cents": ("price", yuan_to_cents), "subscribed_on": ("subscribed_on", day)}
    for column, (name, read) in readers.items():
        try:
            values[column] = read(form.get(name, ""))
        except Unreadable as exc:
            errors[column] = [str(exc)]
    price = values.get("price_cents")
    if price is not None and not 0 < price <= MAX_PRICE_CENTS:
        errors["price_cents"] = ["成交价须大于 0 元且不超过 100 亿元"]
    if errors:
        return None, errors
    return deals.NewDeal(project_id=values["project_id"],
                         buyer_phone=form.get("buyer_phone", "")[:PHONE_INPUT_MAX_LENGTH + 1],
                         unit=form.get("unit", "")[:50], price_cents=values["price_cents"],
                         subscribed_on=values["subscribed_on"], note=form.get("note", "")[:500] or None), {}


def _render_deal_form(form=None, errors=None, error: str | None = None, status: int = 200):
    form = form or {"subscribed_on": _today().isoformat(), "project_id": request.args.get("project_id", "")}
    return render_template("admin/deals/new.html", form=form, errors=errors or {}, error=error,
                           project_choices=_project_choices(), today=_today(),
                           backdate_days=current_app.config["DEAL_BACKDATE_DAYS"], **_labels()), status


@bp.route("/new", methods=["GET", "POST"])
@staff_page(*RECORDERS)
def deal_new():
    if request.method == "GET":
        return _render_deal_form()
    form = {name: request.form.get(name, "") for name in DEAL_FORM_FIELDS}
    data, errors = parse_deal_form(request.form)
    if errors:
        return _render_deal_form(form, errors, "提交的数据有误，请按提示修改后重试", 422)
    try:
        deal = deal_requests.record_or_request(db.session, g.staff, data, now=utcnow(),
                                               backdate_days=current_app.config["DEAL_BACKDATE_DAYS"])
    except ValidationFailed as exc:
        return _render_deal_form(form, field_errors(exc), "提交的数据有误，请按提示修改后重试", exc.status)
    except DomainError as exc:  # no binding registration, unit sold, no rule …: the reason, on the form
        return _render_deal_form(form, {}, refusal_message(exc), exc.status)
    if isinstance(deal, DealChangeRequest):
        flash(f"认购日期早于 {current_app.config['DEAL_BACKDATE_DAYS']} 天前，已提交补录申请（#{deal.id}），"
              f"平台审核通过后录入成交", "success")
        return redirect(url_for("admin_deals.request_list"))
    flash(f"已录入成交：{deal.project.name} {deal.unit}，成交价 {yuan(deal.price_cents)}，"
          f"佣金 {yuan(deal.commission_cents)}", "success")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal.id))


# --- deals: detail and actions -------------------------------------------------------------------------

def _event_text(record) -> str:
    data = json.loads(record.payload or "{}")
    stage = deals.STAGE_LABELS
    if record.event == "recorded":
        return (f"房号 {data.get('unit')}，成交价 {yuan(data.get('price_cents', 0))}，"
                f"佣金 {yuan(data.get('commission_cents', 0))}，认购日 {data.get('subscribed_on')}"
                + (f"；备注：{data['note']}" if data.get("note") else ""))
    if record.event == "stage_changed":
        return f"{stage.get(data.get('from_stage'), '')} → {stage.get(data.get('to_stage'), '')}（{data.get('on')}）"
    if record.event == "cancelled":
        return f"由「{stage.get(data.get('from_stage'), '')}」退房：{data.get('reason')}"
    if record.event in ("cancel_requested", "cancel_rejected"):
        return f"申请 #{data.get('request_id')}：{data.get('reason')}"
    if record.event in ("cancel_objected", "cancel_withdrawn"):
        return f"申请 #{data.get('request_id')}"
    if record.event == "price_corrected":
        return (f"成交价 {yuan(data.get('from_price_cents', 0))} → {yuan(data.get('to_price_cents', 0))}，"
                f"佣金 {yuan(data.get('from_commission_cents', 0))} → {yuan(data.get('to_commission_cents', 0))}；"
                f"原因：{data.get('reason')}")
    return ""


def _party_names(lines) -> dict[tuple[str, int], str]:
    """Names of the consultants and buyers on the lines (the lines keep only ids)."""
    names: dict[tuple[str, int], str] = {}
    for party_type, model in (("consultant", Consultant), ("buyer", Buyer)):
        ids = {line.party_id for line in lines if line.party_type == party_type}
        if ids:
            for party_id, name in db.session.execute(select(model.id, model.name).where(model.id.in_(ids))):
                names[(party_type, party_id)] = name or f"#{party_id}"
    return names


def _finance_view(deal) -> dict:
    lines = recognition.current_lines(db.session, deal)
    rule = json.loads(deal.rule_snapshot)
    return {"rule": rule, "policy": json.loads(deal.policy_snapshot), "lines": lines,
            "lines_total": sum(line.amount_cents for line in lines), "party_names": _party_names(lines),
            "tier": rule["tiers"][deal.tier_index] if deal.tier_index is not None else None}


@bp.route("/<int:deal_id>")
@staff_page(*READERS)
def deal_detail(deal_id):
    deal = deals.staff_deal(db.session, g.staff, deal_id)
    chain = evidence.chain(db.session, "deal", deal_id)
    finance = _finance_view(deal) if g.staff.role in FINANCE else None
    return render_template("admin/deals/detail.html", d=deal, chain=chain, verified=evidence.verify(chain),
                           event_text=_event_text, next_stages=deals.NEXT_STAGES[deal.stage], finance=finance,
                           pending_requests=deal_requests.pending_for_deal(db.session, deal.id),
                           cancel_needs_approval=deal_requests.needs_approval(g.staff), today=_today(), **_labels())


@bp.route("/<int:deal_id>/stage", methods=["POST"])
@staff_page(*RECORDERS)
def deal_stage(deal_id):
    stage = request.form.get("stage", "")
    try:
        on = day(request.form["on"]) if request.form.get("on", "").strip() else None
        deal = deals.change_stage(db.session, g.staff, deal_id, stage, on=on, now=utcnow())
    except Unreadable as exc:
        return _refused_action(ValidationFailed({"on": [str(exc)]}), deal_id)
    except DomainError as exc:
        return _refused_action(exc, deal_id)
    message = f"已标记为「{deals.STAGE_LABELS[deal.stage]}」"
    if deal.recognised:
        message += f"，佣金 {yuan(deal.commission_cents)} 已确认"
    flash(message, "success")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))


@bp.route("/<int:deal_id>/cancel", methods=["POST"])
@staff_page(*RECORDERS)
def deal_cancel(deal_id):
    try:
        result = deal_requests.cancel_or_request(db.session, g.staff, deal_id,
                                                 reason=request.form.get("reason", "")[:500], now=utcnow())
    except DomainError as exc:
        return _refused_action(exc, deal_id)
    if isinstance(result, DealChangeRequest):
        flash(f"已提交退房申请（#{result.id}），平台审核通过后生效；成交顾问已收到通知", "success")
    else:
        flash("已退房，已确认的佣金已全部冲回", "success")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))


# --- deal change requests (maker-checker) -------------------------------------------------------------------

@bp.route("/requests")
@staff_page(*READERS)
def request_list():
    status = request.args.get("status", "pending") or None
    if status not in (None, "all", *DEAL_REQUEST_STATUSES):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = deal_requests.list_for_staff(db.session, g.staff, status=None if status == "all" else status,
                                                page=page, per_page=PER_PAGE)
    return render_template("admin/deals/requests.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status, statuses=DEAL_REQUEST_STATUSES, KIND_LABELS=deal_requests.KIND_LABELS,
                           REQUEST_STATUS_LABELS=deal_requests.STATUS_LABELS,
                           can_decide=g.staff.role in deal_requests.DECIDERS,
                           can_withdraw=g.staff.role in ("admin", "site_staff"), **_labels())


def _request_action(action, deal_request_id: int, done: str):
    try:
        action()
    except DomainError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        flash(refusal_message(exc), "error")
        return redirect(url_for("admin_deals.request_list"))
    flash(done.format(id=deal_request_id), "success")
    return redirect(url_for("admin_deals.request_list"))


@bp.route("/requests/<int:deal_request_id>/approve", methods=["POST"])
@staff_page(*deal_requests.DECIDERS)
def request_approve(deal_request_id):
    return _request_action(lambda: deal_requests.approve(db.session, g.staff, deal_request_id,
                                                         note=request.form.get("note", "")[:500], now=utcnow()),
                           deal_request_id, "已批准申请 #{id}")


@bp.route("/requests/<int:deal_request_id>/reject", methods=["POST"])
@staff_page(*deal_requests.DECIDERS)
def request_reject(deal_request_id):
    return _request_action(lambda: deal_requests.reject(db.session, g.staff, deal_request_id,
                                                        note=request.form.get("note", "")[:500], now=utcnow()),
                           deal_request_id, "已驳回申请 #{id}")


@bp.route("/requests/<int:deal_request_id>/withdraw", methods=["POST"])
@staff_page("admin", "site_staff")
def request_withdraw(deal_request_id):
    return _request_action(lambda: deal_requests.withdraw(db.session, g.staff, deal_request_id, now=utcnow()),
                           deal_request_id, "已撤回申请 #{id}")


@bp.route("/<int:deal_id>/price", methods=["POST"])
@staff_page(*FINANCE)
def deal_price(deal_id):
    try:
        price_cents = yuan_to_cents(request.form.get("price", ""))
        if not 0 < price_cents <= MAX_PRICE_CENTS:
            raise Unreadable("成交价须大于 0 元且不超过 100 亿元")
        deal = deals.correct_price(db.session, g.staff, deal_id, price_cents=price_cents,
                                   reason=request.form.get("reason", "")[:500], now=utcnow())
    except Unreadable as exc:
        return _refused_action(ValidationFailed({"price_cents": [str(exc)]}), deal_id)
    except DomainError as exc:
        return _refused_action(exc, deal_id)
    flash(f"成交价已更正为 {yuan(deal.price_cents)}，佣金 {yuan(deal.commission_cents)}", "success")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))


