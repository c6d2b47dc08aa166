"""The consultant's pages (/m/…): HTML shells in Chinese, filled by one script (app.js)
that calls the mini-program's JSON API (/api/mp/v1) with the page's bearer token.

No page carries data of its own: a shell is the same for everyone, so nothing here
reads the database, and the API's checks (who may see what) are the only ones.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from .session import dev_sign_in_available, safe_next, wechat_web_available

bp = Blueprint("m_pages", __name__, url_prefix="/m", template_folder="templates", static_folder="static/m",
               static_url_path="/static")

SECURITY_HEADERS = {
    # No inline script or style: every script is a file of ours (app.js). blob: and data: images
    # are the poster and QR codes the script draws from the API's images.
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# Why the WeChat sign-in came back to the sign-in page, for people.
SIGN_IN_ERRORS = {
    "wechat_denied": "您取消了微信授权，可使用手机验证码登录",
    "wechat_state_invalid": "授权已过期，请重新点击微信授权登录",
    "wechat_code_invalid": "微信授权已失效，请重新点击微信授权登录",
    "wechat_unavailable": "微信服务暂时不可用，请稍后重试或使用手机验证码登录",
    "wechat_web_unavailable": "暂未开通微信网页登录，请使用手机验证码登录",
}


@bp.after_request
def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-cache"
    return response


def page(template: str, name: str, title: str, *, back: str | None = None, tab: str | None = None, **context):
    return render_template(f"m/{template}", page=name, title=title, back=back, tab=tab, **context)


@bp.get("/")
def home():
    return page("home.html", "home", "今日", tab="home")


@bp.get("/signin")
def signin():
    error = request.args.get("error", "")
    return page("signin.html", "signin", "登录", next=safe_next(request.args.get("next")),
                error=SIGN_IN_ERRORS.get(error, "登录失败，请重试" if error else ""),
                dev_sign_in=dev_sign_in_available(), wechat_web=wechat_web_available())


# --- joining ---------------------------------------------------------------------------------------

@bp.get("/join")
def join():
    invite = request.args.get("invite", "")
    invite = invite if invite.isalnum() and len(invite) <= 12 else ""
    return page("join.html", "join", "申请入驻", invite=invite)


@bp.get("/join/agreement")
def agreement():
    return page("agreement.html", "agreement", "平台协议", back="/m/join/status")


@bp.get("/join/status")
def join_status():
    return page("status.html", "status", "审核状态")


# --- projects and registrations ---------------------------------------------------------------------

@bp.get("/projects")
def projects():
    return page("projects.html", "projects", "楼盘", tab="projects")


@bp.get("/projects/<int:project_id>")
def project(project_id: int):
    return page("project.html", "project", "楼盘详情", back="/m/projects", object_id=project_id)


@bp.get("/register")
def register():
    project_id = request.args.get("project_id", "")
    return page("register.html", "register", "报备客户", tab="register",
                project_id=project_id if project_id.isdigit() and len(project_id) < 10 else "")


@bp.get("/registrations")
def registrations():
    return page("registrations.html", "registrations", "我的报备", back="/m/")


@bp.get("/registrations/<int:registration_id>")
def registration(registration_id: int):
    return page("registration.html", "registration", "报备详情", back="/m/registrations", object_id=registration_id)


@bp.get("/visits/<int:visit_id>")
def visit(visit_id: int):
    return page("visit.html", "visit", "带看核销码", back="/m/registrations", object_id=visit_id)


# --- clients -------------------------------------------------------------------------------------------

@bp.get("/clients")
def clients():
    return page("clients.html", "clients", "我的客户", tab="clients")


@bp.get("/clients/<int:client_id>")
def client(client_id: int):
    return page("client.html", "client", "客户详情", back="/m/clients", object_id=client_id)


# --- invite links ------------------------------------------------------------------------------------

@bp.get("/links")
def links():
    project_id = request.args.get("project_id", "")
    return page("links.html", "links", "邀请链接", back="/m/",
                project_id=project_id if project_id.isdigit() and len(project_id) < 10 else "")


@bp.get("/links/<int:link_id>")
def link(link_id: int):
    return page("link.html", "link", "链接与海报", back="/m/links", object_id=link_id)


# --- handoffs -----------------------------------------------------------------------------------------

@bp.get("/handoffs")
def handoffs():
    return page("handoffs.html", "handoffs", "转介", back="/m/")


@bp.get("/handoffs/new")
def handoff_new():
    return page("handoff_new.html", "handoff_new", "转介客户", back="/m/handoffs")


# --- money and team -------------------------------------------------------------------------------------

@bp.get("/deals")
def deals():
    return page("deals.html", "deals", "我的成交", back="/m/")


@bp.get("/deals/<int:deal_id>")
def deal(deal_id: int):
    return page("deal.html", "deal", "成交与佣金", back="/m/deals", object_id=deal_id)


@bp.get("/earnings")
def earnings():
    return page("earnings.html", "earnings", "我的收益", back="/m/")


@bp.get("/team")
def team():
    return page("team.html", "team", "我的团队", back="/m/me")


@bp.get("/deal-requests")
def deal_requests():
    return page("deal_requests.html", "deal_requests", "退房与补录申请", back="/m/deals")


# --- visits, disputes and credit ------------------------------------------------------------------------

@bp.get("/visits")
def visits():
    return page("visits.html", "visits", "我的带看", back="/m/")


@bp.get("/disputes")
def disputes():
    return page("disputes.html", "disputes", "我的争议", back="/m/me")


@bp.get("/disputes/new")
def dispute_new():
    registration_id = request.args.get("registration_id", "")
    return page("dispute_new.html", "dispute_new", "投诉", back="/m/disputes",
                registration_id=registration_id if registration_id.isdigit() and len(registration_id) < 10 else "")


@bp.get("/disputes/<int:dispute_id>")
def dispute(dispute_id: int):
    return page("dispute.html", "dispute", "争议详情", back="/m/disputes", object_id=dispute_id)


@bp.get("/credit")
def credit():
    return page("credit.html", "credit", "我的信用分", back="/m/me")


# --- payouts and statements ------------------------------------------------------------------------------

@bp.get("/payout")
def payout():
    return page("payout.html", "payout", "收款账户", back="/m/earnings")


@bp.get("/statements")
def statements():
    return page("statements.html", "statements", "对账单", back="/m/earnings")


@bp.get("/statements/<int:item_id>")
def statement(item_id: int):
    return page("statement.html", "statement", "对账单", back="/m/statements", object_id=item_id)


# --- buy-back (佣金垫付) ------------------------------------------------------------------------------------

@bp.get("/buyback")
def buyback():
    return page("buyback.html", "buyback", "佣金垫付", back="/m/earnings")


@bp.get("/buyback/requests")
def buyback_requests():
    return page("buyback_requests.html", "buyback_requests", "我的垫付申请", back="/m/buyback")


# --- me -------------------------------------------------------------------------------------------------

@bp.get("/me/phone")
def phone():
    return page("phone.html", "phone", "验证手机号", back="/m/me", next=safe_next(request.args.get("next")))


@bp.get("/notifications")
def notifications():
    return page("notifications.html", "notifications", "消息", back="/m/")


@bp.get("/me")
def me():
    return page("me.html", "me", "我的", tab="me")


@bp.get("/<path:anything>")
def missing(anything: str):
    return page("missing.html", "missing", "页面不存在"), 404
