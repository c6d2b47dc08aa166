"""Consultant onboarding (入驻) and profile."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from estate_platform.consultants import services as consultants
from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.db import db, utcnow

from web_common.api import PlatformBlueprint

from . import callers
from .schemas import ApplicationSchema, ConsultantSchema, InviteCardSchema, InviteCodeSchema, InviterSchema

blp = PlatformBlueprint("consultants", __name__, description="顾问入驻申请、个人资料、邀请人")


@blp.route("")
class Apply(MethodView):
    @blp.authenticated(callers.wechat_user, consultants.AlreadyApplied, consultants.PhoneTaken,
                       consultants.InviteCodeUnknown)
    @blp.arguments(ApplicationSchema)
    @blp.response(201, ConsultantSchema)
    def post(self, body):
        """申请成为平台顾问（免费；被驳回后可重新申请）"""
        return consultants.apply(db.session, g.wechat_user.id, consultants.Application(**body), now=utcnow())


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
                       consultants.InviteCycle)
    @blp.arguments(InviteCodeSchema)
    @blp.response(201, InviterSchema)
    def put(self, body):
        """补填邀请人（只能填写一次，不能形成循环邀请）"""
        return consultants.set_inviter(db.session, g.consultant, body["invite_code"], now=utcnow())


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


