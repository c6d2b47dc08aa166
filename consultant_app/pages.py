"""The consultant's pages (/m/…): HTML shells in Chinese, filled by one script (app.js)
that calls the mini-program's JSON API (/api/mp/v1) with the page's bearer token.

No page carries data of its own: a shell is the same for everyone, so nothing here
reads the database, and the API's checks (who may see what) are the only ones.
"""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Shell:
    """A page that is the same for everyone: its template is ``m/<page>.html``; a rule with
    ``<int:object_id>`` hands that id to the script (``data-object-id``)."""
    rule: str
    page: str
    title: str
    back: str | None = None
    tab: str | None = None
    endpoint: str | None = None  # url_for's name, when it is not the page's


SHELLS = (
    Shell("/", "home", "今日", tab="home"),
    Shell("/join/agreement", "agreement", "平台协议", back="/m/join/status"),
    Shell("/join/status", "status", "审核状态", endpoint="join_status"),
    # projects, registrations, clients
    Shell("/projects", "projects", "楼盘", tab="projects"),
    Shell("/projects/<int:object_id>", "project", "楼盘详情", back="/m/projects"),
    Shell("/registrations", "registrations", "我的报备", back="/m/"),
    Shell("/registrations/<int:object_id>", "registration", "报备详情", back="/m/registrations"),
    Shell("/visits/<int:object_id>", "visit", "带看核销码", back="/m/registrations"),
    Shell("/clients", "clients", "我的客户", tab="clients"),
    Shell("/clients/<int:object_id>", "client", "客户详情", back="/m/clients"),
    # invite links and handoffs
    Shell("/links/<int:object_id>", "link", "链接与海报", back="/m/links"),
    Shell("/handoffs", "handoffs", "转介", back="/m/"),
    Shell("/handoffs/new", "handoff_new", "转介客户", back="/m/handoffs"),
    # money and team
    Shell("/deals", "deals", "我的成交", back="/m/"),
    Shell("/deals/<int:object_id>", "deal", "成交与佣金", back="/m/deals"),
    Shell("/earnings", "earnings", "我的收益", back="/m/"),
    Shell("/team", "team", "我的团队", back="/m/me"),
    Shell("/deal-requests", "deal_requests", "退房与补录申请", back="/m/deals"),
    # visits, disputes and credit
    Shell("/visits", "visits", "我的带看", back="/m/"),
    Shell("/disputes", "disputes", "我的争议", back="/m/me"),
    Shell("/disputes/<int:object_id>", "dispute", "争议详情", back="/m/disputes"),
    Shell("/credit", "credit", "我的信用分", back="/m/me"),
    # payouts, statements and buy-back (佣金垫付)
    Shell("/payout", "payout", "收款账户", back="/m/earnings"),
    Shell("/statements", "statements", "对账单", back="/m/earnings"),
    Shell("/statements/<int:object_id>", "statement", "对账单", back="/m/statements"),
    Shell("/buyback", "buyback", "佣金垫付", back="/m/earnings"),
    Shell("/buyback/requests", "buyback_requests", "我的垫付申请", back="/m/buyback"),
    # me
    Shell("/notifications", "notifications", "消息", back="/m/"),
    Shell("/me", "me", "我的", tab="me"),
)


def _shell_view(shell: Shell):
    def view(object_id: int | None = None):
        return page(f"{shell.page}.html", shell.page, shell.title, back=shell.back, tab=shell.tab,
                    **({} if object_id is None else {"object_id": object_id}))
    return view


for _shell in SHELLS:
    bp.add_url_rule(_shell.rule, _shell.endpoint or _shell.page, _shell_view(_shell), methods=["GET"])


def _id_arg(name: str) -> str:
    """A query parameter that prefills an id in a form: digits only, else nothing."""
    value = request.args.get(name, "")
    return value if value.isdigit() and len(value) < 10 else ""


# --- pages that read their query ---------------------------------------------------------------------

@bp.get("/signin")
def signin():
    error = request.args.get("error", "")
    return page("signin.html", "signin", "登录", next=safe_next(request.args.get("next")),
                error=SIGN_IN_ERRORS.get(error, "登录失败，请重试" if error else ""),
                dev_sign_in=dev_sign_in_available(), wechat_web=wechat_web_available())


@bp.get("/join")
def join():
    invite = request.args.get("invite", "")
    invite = invite if invite.isalnum() and len(invite) <= 12 else ""
    return page("join.html", "join", "申请入驻", invite=invite)


@bp.get("/register")
def register():
    return page("register.html", "register", "报备客户", tab="register", project_id=_id_arg("project_id"))


@bp.get("/links")
def links():
    return page("links.html", "links", "邀请链接", back="/m/", project_id=_id_arg("project_id"))


@bp.get("/disputes/new")
def dispute_new():
    return page("dispute_new.html", "dispute_new", "投诉", back="/m/disputes",
                registration_id=_id_arg("registration_id"))


@bp.get("/me/phone")
def phone():
    return page("phone.html", "phone", "验证手机号", back="/m/me", next=safe_next(request.args.get("next")))


@bp.get("/<path:anything>")
def missing(anything: str):
    return page("missing.html", "missing", "页面不存在"), 404
