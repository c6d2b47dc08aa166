"""Buyer-facing H5 pages (mobile web, Chinese): invite landing pages, the visit confirmation
(with the sales office's code), a buyer's own 老带新 share page (``/r/<code>``) and his
rewards (``/r/``).

``GET /i/<token>`` (and HEAD) shows everybody, crawlers and link previews included,
the project's and the consultant's cards with their share tags and a sign-up form,
hands out a long-lived first-party visitor cookie, and records nothing. The open is
counted by ``POST /i/<token>/open``, a beacon the page's own script (open.js) sends
once the page is shown in a browser, carrying the page token; the page works without
it. ``POST /i/<token>/signup`` signs the buyer up with his SMS code (sent by the
page's own script through ``/api/mp/v1/auth/sms/send``).

The form and the beacon are protected against CSRF by tokens derived from the visitor
cookie (HttpOnly, SameSite=Lax), which a foreign page can neither read nor compute;
the beacon also refuses requests another site's page sent (Origin, Sec-Fetch-Site).
Refusals are pages, never JSON or a trace.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from estate_platform.clock import SHANGHAI, local_date
from estate_platform.db import db, utcnow
from estate_platform.deals.views import earnings
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.identity.services import verify_sms_code
from estate_platform.invites import services as invites
from estate_platform.money import yuan
from estate_platform.referrals import services as referrals
from estate_platform.visits.services import confirm_by_buyer_code
from web_common.api import client_ip, user_agent
from web_common.errors import HTTP_CODES

log = logging.getLogger(__name__)

bp = Blueprint("h5", __name__, template_folder="templates", static_folder="static", static_url_path="/h5/static")

VISITOR_COOKIE = "ep_visitor"
VISITOR_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # the page carries this visitor's own form and page tokens
}

# What the buyer reads when his registration cannot be made. Never who holds him.
REFUSAL_NOTICES = {
    "already_registered": "您已登记过该楼盘，将由正在为您服务的顾问继续跟进。",
    "buyer_known_to_developer": "您已是该楼盘售楼处的客户，请直接联系售楼处。",
    "project_not_accepting": "该楼盘目前暂停线上登记，顾问会与您联系。",
    "daily_limit_reached": "您今天登记的楼盘较多，请明天再试或直接联系顾问。",
}
DEFAULT_REFUSAL_NOTICE = "暂时无法为您在线登记该楼盘，我们会尽快与您联系。"


# --- visitor cookie and form token --------------------------------------------------------

def _visitor_id() -> str:
    """The visitor's id from his cookie, or a new one (set on the response once a page
    with the form is shown: a dead link hands out nothing)."""
    if "visitor_id" not in g:
        cookie = request.cookies.get(VISITOR_COOKIE)
        g.visitor_id = cookie if invites.is_visitor_id(cookie) else invites.new_visitor_id()
        g.visitor_is_new = g.visitor_id != cookie
    return g.visitor_id


def _visitor_token(purpose: str, visitor_id: str, token: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{visitor_id}:{token}".encode(), hashlib.sha256).hexdigest()


def _form_token(visitor_id: str, token: str) -> str:
    return _visitor_token("h5-signup", visitor_id, token)


def _open_token(visitor_id: str, token: str) -> str:
    """The page token the open beacon carries: only this visitor's page of this link has it."""
    return _visitor_token("h5-open", visitor_id, token)


def _sent_token_valid(field: str, make, token: str) -> bool:
    cookie = request.cookies.get(VISITOR_COOKIE)
    sent = request.form.get(field, "")
    # As bytes: compare_digest refuses a str with non-ASCII characters, which anyone may send.
    return invites.is_visitor_id(cookie) and hmac.compare_digest(sent.encode(), make(cookie, token).encode())


def _form_token_valid(token: str) -> bool:
    return _sent_token_valid("form_token", _form_token, token)


def _sent_by_this_site() -> bool:
    """A beacon comes from our own page: browsers name the sending site in Sec-Fetch-Site and
    Origin; where a (older) browser sends neither, the page token alone decides."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc.lower() == request.host.lower()


@bp.after_request
def _finish(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if g.get("visitor_is_new") and g.get("form_shown"):
        response.set_cookie(VISITOR_COOKIE, g.visitor_id, max_age=VISITOR_COOKIE_MAX_AGE, path="/i",
                            httponly=True, samesite="Lax", secure=request.is_secure)
    return response


# --- pages ----------------------------------------------------------------------------------

PROJECT_STATUS_LABELS = {"on_sale": "在售", "paused": "暂停合作", "sold_out": "已售罄", "ended": "合作结束"}


def wan(cents: int) -> str:
    """Prices on the page in 万元 (10,000 yuan), with at most one decimal: 3,250,000 元 → "325"."""
    tenths = (cents + 50_000) // 100_000  # cents → tenths of 万元, rounded half up
    whole, tenth = divmod(tenths, 10)
    return f"{whole}.{tenth}" if tenth else str(whole)


@bp.context_processor
def _page_helpers():
    return {"wan": wan, "project_status": lambda project: PROJECT_STATUS_LABELS.get(project.status, ""),
            "yuan": yuan, "local_time": lambda at: at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")}


def _landing(link, *, form: dict | None = None, errors: dict | None = None, message: str | None = None,
             count_open: bool = False):
    """The landing page. Only the page a link's URL shows (``count_open``) asks its script to
    count an open; the same form shown again after a refused sign-up does not."""
    today = local_date(utcnow())
    g.form_shown = True
    return render_template(
        "h5/landing.html", link=link, project=link.project, consultant=link.consultant,
        share_url=url_for("h5.landing", token=link.token, _external=True),
        open_url=url_for("h5.count_open", token=link.token) if count_open else None,
        open_token=_open_token(_visitor_id(), link.token) if count_open else None,
        form=form or {}, errors=errors or {}, message=message, today=today.isoformat(),
        last_visit_day=(today + timedelta(days=invites.MAX_VISIT_DAYS_AHEAD)).isoformat(),
        form_token=_form_token(_visitor_id(), link.token),
        sms_send_url=url_for("auth.SmsSend"),
        sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"])


@bp.get("/i/<token>")
def landing(token: str):
    """The page for everybody (HEAD too); fetching it counts nothing."""
    return _landing(invites.landing_link(db.session, token), count_open=True)


@bp.post("/i/<token>/open")
def count_open(token: str):
    """The page's beacon: one open of this visitor's browser. 204 whether counted or ignored
    (a crawler's), 403 for a beacon without this visitor's cookie and page token or sent by
    another site's page."""
    if not (_sent_by_this_site() and _sent_token_valid("page_token", _open_token, token)):
        return "", 403
    invites.count_open(db.session, token, visitor_id=request.cookies[VISITOR_COOKIE], ip=client_ip(),
                       user_agent=user_agent(), referrer=request.form.get("referrer", "")[:500] or None,
                       secret=current_app.config["SECRET_KEY"], now=utcnow())
    return "", 204


@bp.post("/i/<token>/signup")
def signup(token: str):
    form = invites.BuyerSignup(name=request.form.get("name", "")[:100], phone=request.form.get("phone", "")[:30],
                               sms_code=request.form.get("sms_code", "")[:10],
                               visit_date=request.form.get("visit_date", "")[:10])
    if not _form_token_valid(token):
        link = invites.landing_link(db.session, token)
        return _landing(link, form=vars(form), message="页面已过期，请重新获取验证码后提交。"), 400
    try:
        result = invites.sign_up(db.session, token, form, visitor_id=_visitor_id(),
                                 secret=current_app.config["SECRET_KEY"], now=utcnow(), config=current_app.config)
    except invites.InviteLinkUnavailable:
        raise
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # a wrong code still counts toward the attempt limit
        link = invites.landing_link(db.session, token)
        if isinstance(exc, ValidationFailed):
            return _landing(link, form=vars(form), errors=exc.details["fields"], message=exc.message), exc.status
        # Every other refusal here is about the SMS code (wrong, expired, too many tries).
        return _landing(link, form=vars(form), errors={"sms_code": [exc.message]}), exc.status
    notice = None
    if result.refusal is not None:
        notice = REFUSAL_NOTICES.get(result.refusal.code, DEFAULT_REFUSAL_NOTICE)
    link = result.link
    return render_template("h5/done.html", link=link, project=link.project, consultant=link.consultant,
                           registered=result.registration is not None, notice=notice)


# --- 老带新: a buyer's own share page ---------------------------------------------------------
# Like the visit confirmation, the form acts only with a fresh SMS code sent to the
# friend's own phone, which a foreign page cannot know.

def masked_name(name: str | None) -> str:
    """周先生 → 周**: the friend sees who invited him without his full name."""
    name = (name or "").strip()
    return (name[0] + "*" * max(len(name) - 1, 1)) if name else "您的朋友"


def _referral_page(code: str, owner, *, form: dict | None = None, errors: dict | None = None,
                   message: str | None = None):
    return render_template("h5/referral.html", code=code, owner_name=masked_name(owner.name), form=form or {},
                           errors=errors or {}, message=message, sms_send_url=url_for("auth.SmsSend"),
                           sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"])


@bp.get("/r/<code>")
def referral_landing(code: str):
    return _referral_page(code, referrals.code_owner(db.session, code))


@bp.post("/r/<code>")
def referral_signup(code: str):
    owner = referrals.code_owner(db.session, code)
    form = {"name": request.form.get("name", "")[:50], "phone": request.form.get("phone", "")[:30],
            "sms_code": request.form.get("sms_code", "")[:10]}
    now = utcnow()
    try:
        signed = verify_sms_code(db.session, form["phone"], form["sms_code"], secret=current_app.config["SECRET_KEY"],
                                 now=now, config=current_app.config)
        friend = signed.subject
        if not friend.name and form["name"].strip():
            friend.name = form["name"].strip()
        referrals.claim_referral(db.session, friend.id, code, now=now)
    except (referrals.AlreadyReferred, referrals.ReferralNotAllowed, referrals.FriendAlreadyRegistered) as exc:
        g.keep_changes = True  # the sign-in stands; only the referral is refused
        return render_template("h5/referral_done.html", owner_name=masked_name(owner.name), notice=exc.message)
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # a wrong SMS code still counts toward the attempt limit
        errors = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return _referral_page(code, owner, form=form, errors=errors or {}, message=exc.message), exc.status
    return render_template("h5/referral_done.html", owner_name=masked_name(owner.name), notice=None)


# --- 老带新: the referring buyer's own code and rewards ---------------------------------------
# Signed in by a fresh SMS code each time (no buyer session on these pages); the page only reads.

def _my_rewards_page(*, form: dict | None = None, errors: dict | None = None, message: str | None = None,
                     status: int = 200):
    return render_template("h5/my_rewards.html", form=form or {}, errors=errors or {}, message=message,
                           sms_send_url=url_for("auth.SmsSend"),
                           sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"]), status


@bp.get("/r/")
def my_rewards_form():
    return _my_rewards_page()


@bp.post("/r/")
def my_rewards():
    """His share code and link, and his 老带新 rewards from the ledger: pending (the friend's deal
    is recognised, the developer has not paid), available (paid out with the platform's next
    settlement batch) and paid."""
    form = {"phone": request.form.get("phone", "")[:30], "sms_code": request.form.get("sms_code", "")[:10]}
    now = utcnow()
    try:
        signed = verify_sms_code(db.session, form["phone"], form["sms_code"], secret=current_app.config["SECRET_KEY"],
                                 now=now, config=current_app.config)
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # a wrong SMS code still counts toward the attempt limit
        errors = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return _my_rewards_page(form=form, errors=errors or {}, message=exc.message, status=exc.status)
    buyer = signed.subject
    code = referrals.referral_code_of(db.session, buyer.id, now=now)
    rewards = earnings(db.session, "buyer", buyer.id, per_page=50)
    return render_template("h5/my_rewards_done.html", code=code.code, rewards=rewards,
                           share_url=url_for("h5.referral_landing", code=code.code, _external=True))


@bp.get("/i/")
@bp.get("/i/<path:anything>")
def unknown(anything: str = ""):
    """Anything else under /i/ (a cut-off or mangled link) gets the same clear page."""
    raise invites.InviteLinkUnavailable()


@bp.errorhandler(DomainError)
def _refused(exc: DomainError):
    if exc.keep_changes:
        g.keep_changes = True
    return render_template("h5/unavailable.html", status=exc.status, message=exc.message), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    _, message = HTTP_CODES.get(status, ("http_error", "请求无法处理"))
    return render_template("h5/unavailable.html", status=status, message=message), status


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return render_template("h5/unavailable.html", status=500, message="页面暂时无法打开，请稍后重试"), 500


# --- the buyer confirms his visit (到访确认) ------------------------------------------------
# No separate CSRF token: the form only acts with a fresh SMS code sent to the buyer's own
# phone, which a foreign page cannot know.

@bp.get("/v/")
def visit_confirm_form():
    g.form_shown = False
    return render_template("h5/visit_confirm.html", form={}, errors={}, message=None,
                           sms_send_url=url_for("auth.SmsSend"),
                           sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"])


@bp.post("/v/")
def visit_confirm():
    form = {"phone": request.form.get("phone", "")[:30], "sms_code": request.form.get("sms_code", "")[:10],
            "check_in_code": request.form.get("check_in_code", "")[:12],
            "office_code": request.form.get("office_code", "")[:12]}
    now = utcnow()
    try:
        signed = verify_sms_code(db.session, form["phone"], form["sms_code"], secret=current_app.config["SECRET_KEY"],
                                 now=now, config=current_app.config)
        visit = confirm_by_buyer_code(db.session, signed.subject, form["check_in_code"],
                                      office_code=form["office_code"],
                                      secret=current_app.config["SECRET_KEY"], now=now)
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # a wrong SMS code still counts toward the attempt limit
        errors = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return render_template("h5/visit_confirm.html", form=form, errors=errors or {}, message=exc.message,
                               sms_send_url=url_for("auth.SmsSend"),
                               sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"]), exc.status
    return render_template("h5/visit_confirmed.html", visit=visit, project=visit.registration.project)

from . import privacy as _privacy_pages  # noqa: E402,F401  (the buyer's privacy pages, on this blueprint)
