"""Finance's admin pages: commission rules (佣金规则), split policies (分佣方案), the trial
balance (试算平衡) with a bounded "recognise now", and the referral reports (推荐网络报表)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from estate_platform.commissions import services as commissions
from estate_platform.db import db, utcnow
from estate_platform.deals import batch as recognition_batch
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.ledger import services as ledger
from estate_platform.projects import services as projects
from estate_platform.referrals import reports

from .deals_pages import (ANALYSTS, FINANCE, RECOGNISE_LIMIT, TIER_ROWS, UPLINE_INPUTS, _labels, _project_choices,
                          _today)
from .forms import (Unreadable, cents_text, day, field_errors, percent_to_bps, refusal_message, whole_number,
                    yuan_to_cents)
from .pages import staff_page

bp = Blueprint("admin_finance", __name__, url_prefix="/admin/finance", template_folder="templates")


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
    effective_from = read("effective_from", day, form.get("effective_from", ""))
    days = read("payment_terms_days", whole_number, form.get("payment_terms_days", ""))
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
                         yuan_to_cents if metric == "amount" else lambda t: whole_number(t, "请填写起始套数（整数）"),
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


@bp.route("/commission-rules", methods=["GET"])
@staff_page(*ANALYSTS)
def rule_list():
    return _render_rules(request.args.get("project_id", type=int) or None)


@bp.route("/commission-rules", methods=["POST"])
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
        return _render_rules(project_id, form, field_errors(exc), "提交的数据有误，请按提示修改后重试", exc.status)
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
    project_id = read("project_id", lambda t: whole_number(t, "请选择楼盘"), project_text) if project_text else None
    effective_from = read("effective_from", day, form.get("effective_from", ""))
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


@bp.route("/split-policies", methods=["GET"])
@staff_page(*ANALYSTS)
def policy_list():
    return _render_policies()


@bp.route("/split-policies", methods=["POST"])
@staff_page(*FINANCE)
def policy_create():
    form = {**_policy_blank(), **{k: v for k, v in request.form.items() if k != "csrf_token"}}
    data, errors = parse_policy_form(request.form)
    if errors:
        return _render_policies(form, errors, "提交的数据有误，请按提示修改后重试", 422)
    try:
        policy = commissions.create_policy(db.session, data, staff_id=g.staff.id, now=utcnow())
    except ValidationFailed as exc:
        return _render_policies(form, field_errors(exc), refusal_message(exc), exc.status)
    except DomainError as exc:  # the version's date is taken, or the project is unknown
        return _render_policies(form, {}, exc.message, exc.status)
    scope = f"楼盘「{policy.project.name}」的覆盖方案" if policy.project_id else "平台默认分佣方案"
    flash(f"已新增{scope}，{policy.effective_from.isoformat()} 起认购的成交适用", "success")
    return redirect(url_for("admin_finance.policy_list", project_id=policy.project_id))


# --- finance: the ledger -----------------------------------------------------------------------------------

@bp.route("/ledger", methods=["GET"])
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
                           balanced=total == 0 and not unbalanced, due=recognition_batch.count_due(db.session),
                           **_labels())


@bp.route("/ledger/recognise", methods=["POST"])
@staff_page(*FINANCE)
def recognise_now():
    """Run the recognition batch now, in the request, bounded; the rest waits for another click
    (or the nightly task)."""
    posted = recognition_batch.recognise_due(db.session, now=utcnow(), limit=RECOGNISE_LIMIT)
    remaining = recognition_batch.count_due(db.session)
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


@bp.route("/referrals")
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

