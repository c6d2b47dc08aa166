"""Finance's buy-back pages (佣金垫付, issue 13 §1): the request queue with approve/reject, collection
packages (打包) with a printable statement and its XLSX, the book (垫付台账) with charts, and the
settings. Rates are shown as percentages; the API keeps basis points."""
from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from estate_platform.buyback import packages, requests
from estate_platform.buyback import settings as buyback_settings
from estate_platform.buyback.models import REQUEST_STATUSES
from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.money import yuan
from estate_platform.projects.models import Developer

from .pages import staff_page

bp = Blueprint("admin_buyback", __name__, url_prefix="/admin/buyback", template_folder="templates")

FINANCE = ("finance", "admin")
STATUS_LABELS = {"requested": "待审核", "approved": "已通过", "rejected": "已驳回", "cancelled": "顾问已取消",
                 "expired": "已过期"}
LINE_LABELS = {"reserved": "占用额度", "purchased": "已购待回款", "collected": "已回款", "recourse": "退房追索",
               "released": "已释放"}
SETTING_FIELDS = (  # name, label, kind: bps (shown as %), cents (shown as 元) or int
    ("annual_rate_bps", "年化费率（%）", "bps"), ("risk_premium_bps", "默认风险溢价（面值的 %）", "bps"),
    ("min_fee_cents", "每笔最低手续费（元）", "cents"), ("advance_cap_bps", "垫付比例上限（%）", "bps"),
    ("quote_valid_minutes", "报价有效期（分钟）", "int"), ("request_valid_hours", "申请审核时限（小时）", "int"),
    ("credit_threshold", "信用分门槛", "int"), ("fallback_days", "无约定回款日时的预计天数", "int"),
    ("developer_limit_cents", "默认开发商额度（元）", "cents"), ("consultant_limit_cents", "单个顾问额度（元）", "cents"),
    ("book_limit_cents", "平台总额度（元）", "cents"), ("second_approver_cents", "须两人复核的金额（元）", "cents"))


def percent(bps: int | None) -> str:
    return "—" if bps is None else f"{bps // 100}.{bps % 100:02d}%"


def _shown(value: int, kind: str) -> str:
    if kind == "bps":
        return f"{value / 100:.2f}"
    if kind == "cents":
        return f"{value // 100}.{value % 100:02d}"
    return str(value)


def _parse(text: str, kind: str) -> int:
    from decimal import Decimal, InvalidOperation
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("请输入数字") from None
    scaled = number * (100 if kind in ("bps", "cents") else 1)
    if scaled != scaled.to_integral_value():
        raise ValueError("最多两位小数" if kind != "int" else "请输入整数")
    return int(scaled)


def _labels() -> dict:
    return {"STATUS_LABELS": STATUS_LABELS, "LINE_LABELS": LINE_LABELS, "STATE_LABELS": packages.STATE_LABELS,
            "PACKAGE_LABELS": packages.PACKAGE_LABELS, "percent": percent, "yuan": yuan}


@bp.route("/requests", methods=["GET"])
@staff_page(*FINANCE)
def request_list():
    status = request.args.get("status", "requested")
    status = status if status in REQUEST_STATUSES else None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    items, total = requests.queue(db.session, status=status, page=page, per_page=30)
    return render_template("admin/buyback/requests.html", items=items, total=total, page=page, per_page=30,
                           status=status, statuses=REQUEST_STATUSES, **_labels())


@bp.route("/requests/<int:buyback_request_id>/<any(approve, reject):action>", methods=["POST"])
@staff_page(*FINANCE)
def request_action(buyback_request_id, action):
    now = utcnow()
    try:
        if action == "approve":
            done = requests.approve(db.session, buyback_request_id, staff_id=g.staff.id, now=now)
            message = (f"已通过垫付申请 #{done.id}，垫付 {yuan(done.advance_cents)} 将随下一次结算打款"
                       if done.status == "approved" else f"已初审垫付申请 #{done.id}，等待另一位财务复核")
        else:
            reason = request.form.get("reason", "").strip()[:500]
            if not reason:
                raise ValidationFailed({"reason": ["请填写驳回原因"]}, "请填写驳回原因")
            requests.reject(db.session, buyback_request_id, staff_id=g.staff.id, reason=reason, now=now)
            message = f"已驳回垫付申请 #{buyback_request_id}，额度已释放"
        flash(message, "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("admin_buyback.request_list", status=request.args.get("status", "requested")))


@bp.route("/packages", methods=["GET"])
@staff_page(*FINANCE)
def package_list():
    page = max(1, request.args.get("page", 1, type=int) or 1)
    developer_id = request.args.get("developer_id", type=int) or None
    items, total = packages.packages(db.session, developer_id=developer_id, page=page, per_page=30)
    developers = db.session.execute(select(Developer.id, Developer.name).order_by(Developer.name)).all()
    return render_template("admin/buyback/packages.html", items=items, total=total, page=page, per_page=30,
                           developer_id=developer_id, developers=developers, **_labels())


@bp.route("/packages", methods=["POST"])
@staff_page(*FINANCE)
def package_create():
    try:
        package = packages.create_package(db.session, request.form.get("developer_id", type=int) or 0,
                                          staff_id=g.staff.id, note=request.form.get("note", "")[:500] or None,
                                          now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin_buyback.package_list"))
    flash(f"已生成回款包 #{package.id}", "success")
    return redirect(url_for("admin_buyback.package_detail", buyback_package_id=package.id))


@bp.route("/packages/<int:buyback_package_id>", methods=["GET"])
@staff_page(*FINANCE)
def package_detail(buyback_package_id):
    st = packages.statement(db.session, buyback_package_id)
    return render_template("admin/buyback/package.html", st=st, **_labels())


@bp.route("/packages/<int:buyback_package_id>/send", methods=["POST"])
@staff_page(*FINANCE)
def package_send(buyback_package_id):
    try:
        packages.send(db.session, buyback_package_id, now=utcnow())
        flash("已标记为已发送开发商", "success")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(url_for("admin_buyback.package_detail", buyback_package_id=buyback_package_id))


@bp.route("/packages/<int:buyback_package_id>/statement.xlsx", methods=["GET"])
@staff_page(*FINANCE)
def package_xlsx(buyback_package_id):
    st = packages.statement(db.session, buyback_package_id)
    return Response(packages.statement_xlsx(st),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=package-{buyback_package_id}.xlsx"})


@bp.route("/book", methods=["GET"])
@staff_page(*FINANCE)
def book():
    now = utcnow()
    figures = packages.book(db.session, today=local_date(now), now=now)
    return render_template("admin/buyback/book.html", book=figures, today=local_date(now), **_labels())


@bp.route("/settings", methods=["GET", "POST"])
@staff_page(*FINANCE)
def settings_page():
    now = utcnow()
    row = buyback_settings.current(db.session, now=now)
    errors: dict[str, list[str]] = {}
    form = {name: _shown(getattr(row, name), kind) for name, _, kind in SETTING_FIELDS}
    status = 200
    if request.method == "POST":
        form.update({name: request.form.get(name, "") for name, _, _ in SETTING_FIELDS})
        changes = {}
        for name, _, kind in SETTING_FIELDS:
            try:
                changes[name] = _parse(form[name], kind)
            except ValueError as exc:
                errors[name] = [str(exc)]
        if not errors:
            try:
                buyback_settings.update(db.session, changes, staff_id=g.staff.id, now=now)
                flash("垫付参数已保存", "success")
                return redirect(url_for("admin_buyback.settings_page"))
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.details["fields"]
        status = 422
    return render_template("admin/buyback/settings.html", form=form, errors=errors, fields=SETTING_FIELDS,
                           **_labels()), status
