"""Consultant onboarding (入驻) and profile."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView

from estate_platform.adapters.sms import SmsUnavailable
from estate_platform.consultants import phone
from estate_platform.consultants import services as consultants
from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.db import db, utcnow
from estate_platform.identity import services as identity

from web_common.api import PlatformBlueprint, client_ip

from . import callers
from .schemas import (ApplicationSchema, ConsultantSchema, InviteCardSchema, InviteCodeSchema, InviterSchema,
                      PhoneCodeSchema, SmsSendResultSchema)

blp = PlatformBlueprint("consultants", __name__, description="顾问入驻申请、个人资料、邀请人")


@blp.route("")
class Apply(MethodView):
    @blp.authenticated(callers.wechat_user, consultants.AlreadyApplied, consultants.PhoneTaken,
                       consultants.InviteCodeUnknown, identity.SmsCodeWrong, identity.SmsCodeExpired,
                       identity.SmsTooManyAttempts)
    @blp.arguments(ApplicationSchema)
    @blp.response(201, ConsultantSchema)
    def post(self, body):
        """申请成为平台顾问（免费；被驳回后可重新申请）。带 phone_code（发到该手机号的短信验证码）即同时验证手机号。"""
        return consultants.apply(db.session, g.wechat_user.id, consultants.Application(**body), now=utcnow(),
                                 secret=current_app.config["SECRET_KEY"], sms_config=current_app.config)


@blp.route("/me")
class Me(MethodView):
    @blp.authenticated(callers.consultant, consultants.NotYetApplied)
    @blp.response(200, ConsultantSchema)
    def get(self):
        """我的顾问资料与审核状态"""
        return g.consultant


@blp.route("/<int:consultant_id>")
class ConsultantById(MethodView):
    @blp.authenticated(callers.wechat_user, consultants.ConsultantNotFound)
    @blp.response(200, ConsultantSchema)
    def get(self, consultant_id):
        """按 id 读取顾问资料（只能读取自己的）"""
        return consultants.profile_visible_to(db.session, g.wechat_user.id, consultant_id)


@blp.route("/me/inviter")
class Inviter(MethodView):
    @blp.authenticated(callers.consultant, consultants.NotYetApplied, consultants.InviteCodeUnknown,
                       consultants.InviteCycle, consultants.SelfInvite, consultants.InviterAlreadySet,
                       consultants.InviterWindowClosed)
    @blp.arguments(InviteCodeSchema)
    @blp.response(201, InviterSchema)
    def put(self, body):
        """补填邀请人：只能填写一次，不能形成循环邀请；只能在申请后 7 天内（CONSULTANT_INVITER_WINDOW_DAYS）且首次报备前
        填写（409 inviter_window_closed），之后只能由平台运营补填"""
        return consultants.set_inviter(db.session, g.consultant, body["invite_code"], now=utcnow(),
                                       window_days=current_app.config["CONSULTANT_INVITER_WINDOW_DAYS"])


@blp.route("/me/phone/send")
class PhoneSend(MethodView):
    @blp.authenticated(callers.consultant, consultants.NotYetApplied, identity.SmsRateLimited, SmsUnavailable)
    @blp.response(200, SmsSendResultSchema)
    def post(self):
        """给本人资料中的手机号发送 6 位验证码，用于验证手机号（按手机号和 IP 限流）"""
        ttl = phone.send_code(db.session, current_app.extensions["adapters"].sms, g.consultant, ip=client_ip(),
                              secret=current_app.config["SECRET_KEY"], now=utcnow(), config=current_app.config)
        return {"sent": True, "expires_in_seconds": ttl}


@blp.route("/me/phone/verify")
class PhoneVerify(MethodView):
    @blp.authenticated(callers.consultant, consultants.NotYetApplied, identity.SmsCodeWrong, identity.SmsCodeExpired,
                       identity.SmsTooManyAttempts)
    @blp.arguments(PhoneCodeSchema)
    @blp.response(200, ConsultantSchema)
    def post(self, body):
        """用短信验证码验证本人手机号；验证后该手机号才能用于短信登录和确认提现账户变更"""
        return phone.verify(db.session, g.consultant, body["code"], secret=current_app.config["SECRET_KEY"],
                            now=utcnow(), config=current_app.config)


@blp.route("/me/invite-card")
class InviteCard(MethodView):
    @blp.authenticated(callers.operating_consultant, consultants.NotYetApplied, ConsultantInactive,
                       ContractUnsigned)
    @blp.response(200, InviteCardSchema)
    def get(self):
        """我的邀请卡：邀请码与分享路径（须已激活并签署最新协议）"""
        consultant = g.consultant
        return {"invite_code": consultant.invite_code,
                "share_path": f"pages/join/index?invite={consultant.invite_code}",
                "share_text": f"{consultant.name}邀请您加入新房顾问合作平台，入驻免费，邀请码 {consultant.invite_code}"}


