"""The admin JSON API (/admin/api/v1): staff bearer tokens, role-checked."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView

from estate_platform.consultants import services as consultants
from estate_platform.contracts import services as contracts
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.identity import services as identity
from web_common.api import PlatformBlueprint, client_ip

from .callers import api_roles
from .schemas import (AdminConsultantSchema, AgreementInputSchema, AgreementSchema, ConsultantListArgs,
                      ConsultantPageSchema, InviterInputSchema, ReasonSchema, StaffLoginSchema, StaffTokenSchema)

auth_blp = PlatformBlueprint("admin_auth", __name__, description="后台登录（签发员工 token）")
consultants_blp = PlatformBlueprint("admin_consultants", __name__, description="顾问审核、暂停、恢复、终止")
agreements_blp = PlatformBlueprint("admin_agreements", __name__, description="平台协议版本发布")

ALL_ROLES = ("admin", "finance", "operations", "site_staff")
CONSULTANT_ROLES = ("admin", "operations")


def register(api, prefix: str) -> None:
    api.register_blueprint(auth_blp, url_prefix=f"{prefix}/auth")
    api.register_blueprint(consultants_blp, url_prefix=f"{prefix}/consultants")
    api.register_blueprint(agreements_blp, url_prefix=f"{prefix}/agreements")


@auth_blp.route("/login")
class Login(MethodView):
    allowed_roles = ALL_ROLES  # public entry point; the token it issues carries the role

    @auth_blp.arguments(StaffLoginSchema)
    @auth_blp.response(200, StaffTokenSchema)
    @auth_blp.refuses(identity.InvalidCredentials, identity.LoginThrottled)
    def post(self, body):
        """用户名密码登录，换取员工 token（按用户名和来源 IP 限速：连续失败后须等待，等待时间逐次加倍，429 带 Retry-After）"""
        config = current_app.config
        now = utcnow()
        staff = identity.sign_in_staff(db.session, body["username"], body["password"], ip=client_ip(),
                                       now=now, rules=identity.ThrottleRules.from_config(config))
        signed = identity.issue_staff_token(staff, secret=config["SECRET_KEY"], now=now,
                                            ttl_seconds=config["STAFF_TOKEN_TTL_SECONDS"])
        return {"token": signed.token, "expires_at": signed.expires_at, "staff": staff}


@auth_blp.route("/revoke")
class Revoke(MethodView):
    @api_roles(auth_blp, *ALL_ROLES)
    @auth_blp.response(204)
    def post(self):
        """作废本人此前签发的全部员工 token"""
        identity.revoke_tokens(g.staff)


@consultants_blp.route("")
class ConsultantList(MethodView):
    @api_roles(consultants_blp, *CONSULTANT_ROLES)
    @consultants_blp.arguments(ConsultantListArgs, location="query")
    @consultants_blp.response(200, ConsultantPageSchema)
    def get(self, args):
        """顾问列表（按状态筛选、按姓名/手机/公司/邀请码搜索，分页）"""
        items, total = consultants.list_consultants(db.session, status=args.get("status"), search=args.get("q"),
                                                    page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@consultants_blp.route("/<int:consultant_id>")
class ConsultantDetail(MethodView):
    @api_roles(consultants_blp, *CONSULTANT_ROLES)
    @consultants_blp.response(200, AdminConsultantSchema)
    @consultants_blp.refuses(consultants.ConsultantNotFound)
    def get(self, consultant_id):
        """顾问详情"""
        return consultants.get_consultant(db.session, consultant_id)


@consultants_blp.route("/<int:consultant_id>/<any(approve, reject, suspend, reinstate, terminate):action>")
class ConsultantAction(MethodView):
    @api_roles(consultants_blp, *CONSULTANT_ROLES)
    @consultants_blp.arguments(ReasonSchema)
    @consultants_blp.response(200, AdminConsultantSchema)
    @consultants_blp.refuses(consultants.ConsultantNotFound, consultants.InvalidTransition, ValidationFailed)
    def post(self, body, consultant_id, action):
        """审核通过 approve / 驳回 reject（须填原因）/ 暂停 suspend（须填原因）/ 恢复 reinstate / 终止 terminate（须填原因）"""
        return consultants.change_status(db.session, consultant_id, action, staff_id=g.staff.id,
                                         reason=body.get("reason"), now=utcnow())


@consultants_blp.route("/<int:consultant_id>/inviter")
class ConsultantInviter(MethodView):
    @api_roles(consultants_blp, *CONSULTANT_ROLES)
    @consultants_blp.arguments(InviterInputSchema)
    @consultants_blp.response(200, AdminConsultantSchema)
    @consultants_blp.refuses(consultants.ConsultantNotFound, consultants.InviteCodeUnknown, consultants.SelfInvite,
                             consultants.InviteCycle, consultants.InviterAlreadySet, ValidationFailed)
    def post(self, body, consultant_id):
        """运营补填顾问的邀请人（顾问本人只能在申请后 7 天内、首次报备前填写）：须填原因，记入顾问状态历史（含操作人）；
        只能设置一次，不能形成循环；自现在起生效，已认购的成交不受影响"""
        return consultants.set_inviter_by_staff(db.session, consultant_id, body["invite_code"], reason=body["reason"],
                                                staff_id=g.staff.id, now=utcnow())


@agreements_blp.route("")
class Agreements(MethodView):
    @api_roles(agreements_blp, "admin", "operations")
    @agreements_blp.response(200, AgreementSchema(many=True))
    def get(self):
        """所有已发布的协议版本（新版本在前）"""
        return contracts.list_agreements(db.session)

    @api_roles(agreements_blp, "admin")
    @agreements_blp.arguments(AgreementInputSchema)
    @agreements_blp.response(201, AgreementSchema)
    @agreements_blp.refuses(ValidationFailed, contracts.AgreementUnchanged)
    def post(self, body):
        """发布新版本协议（所有顾问须重新签署后才能继续报备）。正文与当前版本相同 → 409 agreement_unchanged；
        标题不能含控制字符（含换行、制表符），正文除换行、制表符外不能含控制字符（CRLF、CR 按 LF 保存）→ 422"""
        return contracts.publish_agreement(db.session, title=body["title"], text=body["text"],
                                           staff_id=g.staff.id, now=utcnow(),
                                           penalty_fixed_cents=body.get("penalty_fixed_cents"),
                                           penalty_multiple_bps=body.get("penalty_multiple_bps"))
