"""Admin pages: deals (成交) for site staff, finance and operations, and finance's pages
(佣金规则, 分佣方案, 试算平衡, 推荐网络报表).

They mirror ``deals_api`` over the same services. The forms speak the staff's units:
prices in 元 and rates in % (converted exactly to integer cents and basis points
through ``Decimal``, never a float; finer than a cent or than 0.01% is refused).
A refusal re-renders the form with the typed values and the reason, with the
refusal's status, so the unit of work rolls the attempt back.
"""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from estate_platform.clock import local_date
from estate_platform.commissions import services as commissions
from estate_platform.consultants.models import Consultant
from estate_platform.db import db, utcnow
from estate_platform.deals import recognition
from estate_platform.deals import services as deals
from estate_platform.deals.models import DEAL_STAGES
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import Buyer
from estate_platform.ledger import services as ledger
from estate_platform.money import yuan
from estate_platform.phones import mask_phone
from estate_platform.projects import services as projects
from estate_platform.referrals import reports

from .pages import staff_page

bp = Blueprint("admin_deals", __name__, url_prefix="/admin/deals", template_folder="templates")
finance_bp = Blueprint("admin_finance", __name__, url_prefix="/admin/finance", template_folder="templates")

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
EVENT_LABELS = {"recorded": "录入认购", "stage_changed": "阶段变更", "cancelled": "退房", "price_corrected": "成交价更正"}
ACTOR_LABELS = {"consultant": "顾问", "staff": "员工", "buyer": "客户", "system": "系统"}
TIER_ROWS = 4
UPLINE_INPUTS = 3  # one more than allowed: a third level is typed, and refused by the service

_DECIMAL = re.compile(r"^\d{1,13}(?:\.(\d+))?$")


# --- units -----------------------------------------------------------------------------------------

class Unreadable(ValueError):
    """An input that is not a number in the form's unit; ``str(exc)`` is the message for people."""


def _hundredths(text: str, *, what: str) -> int:
    """"3000000.05" → 300 000 005, exactly (cents of 元, or bps of %); at most two decimals."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    match = _DECIMAL.fullmatch(cleaned)
    if not match:
        raise Unreadable(f"请输入{what}（数字，最多两位小数）")
    if len(match.group(1) or "") > 2:
        raise Unreadable(f"{what}最多保留两位小数")
    return int(Decimal(cleaned) * 100)


def yuan_to_cents(text: str) -> int:
    return _hundredths(text, what="以元为单位的金额")


def percent_to_bps(text: str) -> int:
    return _hundredths(text, what="百分比")


def _whole(text: str, message: str = "请填写整数") -> int:
    text = text.strip()
    if not (text.isdigit() and len(text) <= 12):
        raise Unreadable(message)
    return int(text)


def _day(text: str, message: str = "请填写有效的日期（YYYY-MM-DD）") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Unreadable(message) from None


def cents_text(cents: int | None) -> str:
    """Cents as 元 typed in a form: 300000005 → "3000000.05"."""
    if cents is None:
        return ""
    whole, rest = divmod(cents, 100)
    return f"{whole}.{rest:02d}" if rest else str(whole)


def bps_text(bps: int | None) -> str:
    """Basis points as a percentage: 250 → "2.5"."""
    if bps is None:
        return ""
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}".rstrip("0") if rest else str(whole)


def _fields(exc: DomainError) -> dict[str, list[str]]:
    return dict((exc.details or {}).get("fields") or {})


def _message(exc: DomainError) -> str:
    fields = _fields(exc)
    if fields:
        return "；".join(m for ms in fields.values() for m in ms)
    if exc.details.get("registered_on"):
        return f"{exc.message}（报备日期 {exc.details['registered_on']}）"
    return exc.message


def _refused_action(exc: DomainError, deal_id: int):
    """A refused action on the detail page: nothing of it is kept; the reason is flashed."""
    if exc.status == 404:
        raise exc
    db.session.rollback()
    flash(_message(exc), "error")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))


# --- template helpers --------------------------------------------------------------------------------

def _buyer_phone(deal) -> str:
    """Site staff see the project's disclosure rule (as for registrations); everyone else 前三后四."""
    if g.staff.role == "site_staff":
        return mask_phone(deal.buyer.phone, deal.project.phone_disclosure)
    return mask_phone(deal.buyer.phone)


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
    readers = {"project_id": ("project_id", lambda t: _whole(t, "请选择楼盘")),
               "price_cents": ("price", yuan_to_cents), "subscribed_on": ("subscribed_on", _day)}
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
    return deals.NewDeal(project_id=values["project_id"], buyer_phone=form.get("buyer_phone", "")[:20],
                         unit=form.get("unit", "")[:50], price_cents=values["price_cents"],
                         subscribed_on=values["subscribed_on"], note=form.get("note", "")[:500] or None), {}


def _render_deal_form(form=None, errors=None, error: str | None = None, status: int = 200):
    form = form or {"subscribed_on": _today().isoformat(), "project_id": request.args.get("project_id", "")}
    return render_template("admin/deals/new.html", form=form, errors=errors or {}, error=error,
                           project_choices=_project_choices(), today=_today(), **_labels()), status


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
        deal = deals.record_deal(db.session, g.staff, data, now=utcnow())
    except ValidationFailed as exc:
        return _render_deal_form(form, _fields(exc), "提交的数据有误，请按提示修改后重试", exc.status)
    except DomainError as exc:  # no binding registration, unit sold, no rule …: the reason, on the form
        return _render_deal_form(form, {}, _message(exc), exc.status)
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
                           today=_today(), **_labels())


@bp.route("/<int:deal_id>/stage", methods=["POST"])
@staff_page(*RECORDERS)
def deal_stage(deal_id):
    stage = request.form.get("stage", "")
    try:
        on = _day(request.form["on"]) if request.form.get("on", "").strip() else None
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
        deals.cancel_deal(db.session, g.staff, deal_id, reason=request.form.get("reason", "")[:500], now=utcnow())
    except DomainError as exc:
        return _refused_action(exc, deal_id)
    flash("已退房，已确认的佣金已全部冲回", "success")
    return redirect(url_for("admin_deals.deal_detail", deal_id=deal_id))


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


# --- finance: commission rules ---------------------------------------------------------------------------

def _rule_blank() -> dict:
    form = {"effective_from": _today().isoformat(), "basis": "rate", "rate": "", "fixed": "", "tier_metric": "",
            "trigger": "signed", "payment_terms_days": "30", "text": ""}
    for i in range(TIER_ROWS):
        form.update({f"tier{i}_threshold": "", f"tier{i}_rate": "", f"tier{i}_fixed": ""})
    return form


def parse_rule_form(form) -> tuple[commissions.RuleInput | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}

    def read(column: str, convert, text: str):
        try:
            return convert(text)
        except Unreadable as exc:
            errors.setdefault(column, []).append(str(exc))
            return None

    basis = form.get("basis", "")
    metric = form.get("tier_metric", "") or None
    effective_from = read("effective_from", _day, form.get("effective_from", ""))
    days = read("payment_terms_days", _whole, form.get("payment_terms_days", ""))
    rate = read("rate_bps", percent_to_bps, form.get("rate", "")) if basis == "rate" else None
    fixed = read("fixed_cents", yuan_to_cents, form.get("fixed", "")) if basis == "fixed" else None
    tiers = []
    for i in range(TIER_ROWS):
        threshold_text, rate_text, fixed_text = (form.get(f"tier{i}_{name}", "").strip()
                                                 for name in ("threshold", "rate", "fixed"))
        if not (threshold_text or rate_text or fixed_text):
            continue
        index = len(tiers)
        threshold = read(f"tiers.{index}.threshold",
                         yuan_to_cents if metric == "amount" else lambda t: _whole(t, "请填写起始套数（整数）"),
                         threshold_text)
        tiers.append({"threshold": threshold,
                      "rate_bps": read(f"tiers.{index}.rate_bps", percent_to_bps, rate_text)
                      if basis == "rate" else None,
                      "fixed_cents": read(f"tiers.{index}.fixed_cents", yuan_to_cents, fixed_text)
                      if basis == "fixed" else None})
    if errors:
        return None, errors
    return commissions.RuleInput(effective_from=effective_from, basis=basis, trigger=form.get("trigger", ""),
                                 payment_terms_days=days, rate_bps=rate, fixed_cents=fixed, tier_metric=metric,
                                 tiers=tiers, text=form.get("text", "")[:2000] or None), {}


def _rule_form(form) -> dict:
    """The typed values to show again, the filled tier rows first: the service numbers the
    tiers it was given (``tiers.0.rate_bps``), so its errors then sit beside the right row."""
    values = {**_rule_blank(), **{k: v for k, v in form.items() if k != "csrf_token"}}
    names = ("threshold", "rate", "fixed")
    rows = [[values.get(f"tier{i}_{n}", "") for n in names] for i in range(TIER_ROWS)]
    rows = [r for r in rows if any(v.strip() for v in r)] + [r for r in rows if not any(v.strip() for v in r)]
    for i, row in enumerate(rows):
        values.update({f"tier{i}_{n}": v for n, v in zip(names, row)})
    return values


def _render_rules(project_id: int | None, form=None, errors=None, error: str | None = None, status: int = 200):
    project = projects.visible_project(db.session, project_id, g.staff) if project_id else None
    rules = commissions.rules_of(db.session, project_id) if project_id else []
    return render_template("admin/finance/rules.html", project=project, rules=rules, form=form or _rule_blank(),
                           errors=errors or {}, error=error, tier_rows=TIER_ROWS, project_choices=_project_choices(),
                           cents_text=cents_text, **_labels()), status


@finance_bp.route("/commission-rules", methods=["GET"])
@staff_page(*ANALYSTS)
def rule_list():
    return _render_rules(request.args.get("project_id", type=int) or None)


@finance_bp.route("/commission-rules", methods=["POST"])
@staff_page(*FINANCE)
def rule_create():
    project_id = request.args.get("project_id", type=int) or None
    if project_id is None:
        abort(400)
    form = _rule_form(request.form)
    data, errors = parse_rule_form(form)
    if errors:
        return _render_rules(project_id, form, errors, "提交的数据有误，请按提示修改后重试", 422)
    try:
        rule = commissions.create_rule(db.session, project_id, data, staff_id=g.staff.id, now=utcnow())
    except ValidationFailed as exc:
        return _render_rules(project_id, form, _fields(exc), "提交的数据有误，请按提示修改后重试", exc.status)
    except commissions.RuleVersionExists as exc:
        return _render_rules(project_id, form, {"effective_from": [exc.message]}, exc.message, exc.status)
    flash(f"已新增佣金规则版本，{rule.effective_from.isoformat()} 起认购的成交适用", "success")
    return redirect(url_for("admin_finance.rule_list", project_id=project_id))


# --- finance: split policies ---------------------------------------------------------------------------

def _policy_blank() -> dict:
    return {"project_id": request.args.get("project_id", ""), "effective_from": _today().isoformat(),
            "platform_fee": "", "referral": "0", "upline1": "", "upline2": "", "upline3": "", "buyer_reward": "0"}


def parse_policy_form(form) -> tuple[commissions.PolicyInput | None, dict[str, list[str]]]:
    """Upline levels are the filled upline inputs (up to the last filled one); a third is
    passed on so the service refuses it with its own words."""
    errors: dict[str, list[str]] = {}

    def read(column: str, convert, text: str, default=None):
        if not text.strip() and default is not None:
            return default
        try:
            return convert(text)
        except Unreadable as exc:
            errors.setdefault(column, []).append(str(exc))
            return None

    project_text = form.get("project_id", "").strip()
    project_id = read("project_id", lambda t: _whole(t, "请选择楼盘"), project_text) if project_text else None
    effective_from = read("effective_from", _day, form.get("effective_from", ""))
    fee = read("platform_fee_bps", percent_to_bps, form.get("platform_fee", ""))
    referral = read("referral_bps", percent_to_bps, form.get("referral", ""), default=0)
    texts = [form.get(f"upline{i}", "").strip() for i in range(1, UPLINE_INPUTS + 1)]
    while texts and not texts[-1]:
        texts.pop()
    upline = [read("upline_bps", percent_to_bps, text) for text in texts]
    reward = read("buyer_referral_reward_cents", yuan_to_cents, form.get("buyer_reward", ""), default=0)
    if errors:
        return None, errors
    return commissions.PolicyInput(effective_from=effective_from, platform_fee_bps=fee, referral_bps=referral,
                                   upline_bps=upline, max_upline_levels=len(upline),
                                   buyer_referral_reward_cents=reward, project_id=project_id), {}


def _render_policies(form=None, errors=None, error: str | None = None, status: int = 200):
    project_id = request.args.get("project_id", type=int) or None
    project = projects.visible_project(db.session, project_id, g.staff) if project_id else None
    return render_template("admin/finance/policies.html", defaults=commissions.list_policies(db.session),
                           overrides=commissions.list_policies(db.session, project_id) if project_id else [],
                           project=project, form=form or _policy_blank(), errors=errors or {}, error=error,
                           project_choices=_project_choices(), **_labels()), status


@finance_bp.route("/split-policies", methods=["GET"])
@staff_page(*ANALYSTS)
def policy_list():
    return _render_policies()


@finance_bp.route("/split-policies", methods=["POST"])
@staff_page(*FINANCE)
def policy_create():
    form = {**_policy_blank(), **{k: v for k, v in request.form.items() if k != "csrf_token"}}
    data, errors = parse_policy_form(request.form)
    if errors:
        return _render_policies(form, errors, "提交的数据有误，请按提示修改后重试", 422)
    try:
        policy = commissions.create_policy(db.session, data, staff_id=g.staff.id, now=utcnow())
    except ValidationFailed as exc:
        return _render_policies(form, _fields(exc), _message(exc), exc.status)
    except DomainError as exc:  # the version's date is taken, or the project is unknown
        return _render_policies(form, {}, exc.message, exc.status)
    scope = f"楼盘「{policy.project.name}」的覆盖方案" if policy.project_id else "平台默认分佣方案"
    flash(f"已新增{scope}，{policy.effective_from.isoformat()} 起认购的成交适用", "success")
    return redirect(url_for("admin_finance.policy_list", project_id=policy.project_id))


# --- finance: the ledger -----------------------------------------------------------------------------------

@finance_bp.route("/ledger", methods=["GET"])
@staff_page(*FINANCE)
def ledger_page():
    rows = []
    for party_type, kind, accounts, balance in ledger.trial_balance(db.session):
        rows.append({"party_type": party_type, "kind": kind, "accounts": accounts, "balance": balance,
                     "debit": balance if balance > 0 else 0, "credit": -balance if balance < 0 else 0})
    total = ledger.total(db.session)
    unbalanced = ledger.unbalanced_transactions(db.session)
    return render_template("admin/finance/ledger.html", rows=rows, total=total, unbalanced=unbalanced,
                           debits=sum(r["debit"] for r in rows), credits=sum(r["credit"] for r in rows),
                           balanced=total == 0 and not unbalanced, due=recognition.count_due(db.session),
                           **_labels())


@finance_bp.route("/ledger/recognise", methods=["POST"])
@staff_page(*FINANCE)
def recognise_now():
    """Run the recognition batch now, in the request, bounded; the rest waits for another click
    (or the nightly task)."""
    posted = recognition.recognise_due(db.session, now=utcnow(), limit=RECOGNISE_LIMIT)
    remaining = recognition.count_due(db.session)
    if posted == 0 and remaining == 0:
        flash("没有到期待确认的佣金", "success")
    else:
        message = f"已确认 {posted} 笔成交的佣金"
        if remaining:
            message += f"；还有 {remaining} 笔待确认（每次最多处理 {RECOGNISE_LIMIT} 笔），请再次点击"
        flash(message, "success")
    return redirect(url_for("admin_finance.ledger_page"))


# --- finance: referral reports -------------------------------------------------------------------------------

def _period_arg(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


@finance_bp.route("/referrals")
@staff_page(*ANALYSTS)
def referrals_page():
    start, end = _period_arg("start"), _period_arg("end")
    by = request.args.get("by") or "gmv"
    if by not in ("gmv", "deals"):
        abort(400)
    share_text = (request.args.get("share") or "80").strip()
    try:
        share_bps = percent_to_bps(share_text)
    except Unreadable:
        abort(400)
    if not 1 <= share_bps <= 10_000:
        abort(400)
    city = (request.args.get("city") or "").strip()[:50] or None
    today = _today()
    periods = {"本月": (today.replace(day=1), today),
               "近 30 天": (date.fromordinal(today.toordinal() - 29), today),
               "今年": (today.replace(month=1, day=1), today)}
    return render_template(
        "admin/finance/referrals.html", start=start, end=end, by=by, share=share_text, city=city or "",
        ranks=reports.leaderboard(db.session, start=start, end=end, by=by, limit=50, city=city),
        supers=reports.super_users(db.session, start=start, end=end, share_bps=share_bps), periods=periods,
        **_labels())
