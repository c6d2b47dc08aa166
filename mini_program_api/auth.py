"""Sign-in: WeChat for consultants, SMS codes for buyers on H5 pages."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from sqlalchemy import select

from estate_platform.adapters.sms import SmsUnavailable
from estate_platform.adapters.wechat import WechatCodeInvalid, WechatUnavailable
from estate_platform.consultants.models import Consultant
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.identity import services as identity
from web_common.api import PlatformBlueprint, client_ip

from . import callers
from .schemas import (BuyerTokenSchema, SmsSendResultSchema, SmsSendSchema, SmsVerifySchema,
                      WechatLoginSchema, WechatTokenSchema)

blp = PlatformBlueprint("auth", __name__, description="登录：微信小程序登录、购房者短信验证码登录、退出")


def _adapters():
    return current_app.extensions["adapters"]


@blp.route("/wechat")
class WechatLogin(MethodView):
    @blp.arguments(WechatLoginSchema)
    @blp.response(200, WechatTokenSchema)
    @blp.refuses(400, WechatCodeInvalid, WechatUnavailable)
    def post(self, body):
        """用 wx.login 的 code 换取登录 token"""
        signed = identity.sign_in_wechat(
            db.session, _adapters().wechat, body["code"], secret=current_app.config["SECRET_KEY"],
            now=utcnow(), ttl_seconds=current_app.config["TOKEN_TTL_SECONDS"])
        user = signed.subject
        consultant = db.session.scalar(select(Consultant).where(Consultant.wechat_user_id == user.id))
        return {"token": signed.token, "expires_at": signed.expires_at,
                "user": {"id": user.id, "openid": user.openid,
                         "consultant_id": consultant.id if consultant else None,
                         "consultant_status": consultant.status if consultant else None}}


@blp.route("/sms/send")
class SmsSend(MethodView):
    @blp.arguments(SmsSendSchema)
    @blp.response(200, SmsSendResultSchema)
    @blp.refuses(400, ValidationFailed, identity.SmsRateLimited, SmsUnavailable)
    def post(self, body):
        """给购房者手机发送 6 位验证码（5 分钟有效；按手机号和 IP 限流）"""
        ttl = identity.send_sms_code(db.session, _adapters().sms, body["phone"], ip=client_ip(),
                                     secret=current_app.config["SECRET_KEY"], now=utcnow(),
                                     config=current_app.config)
        return {"sent": True, "expires_in_seconds": ttl}


@blp.route("/sms/verify")
class SmsVerify(MethodView):
    @blp.arguments(SmsVerifySchema)
    @blp.response(200, BuyerTokenSchema)
    @blp.refuses(identity.SmsCodeWrong, ValidationFailed, identity.SmsTooManyAttempts)
    def post(self, body):
        """校验验证码，登录（首次即注册）购房者账号"""
        signed = identity.verify_sms_code(db.session, body["phone"], body["code"],
                                          secret=current_app.config["SECRET_KEY"], now=utcnow(),
                                          config=current_app.config)
        return {"token": signed.token, "expires_at": signed.expires_at, "buyer": signed.subject}


@blp.route("/revoke")
class RevokeWechat(MethodView):
    @blp.authenticated(callers.wechat_user)
    @blp.response(204)
    def post(self):
        """退出所有设备：作废该微信用户此前签发的全部 token"""
        identity.revoke_tokens(g.wechat_user)


@blp.route("/sms/revoke")
class RevokeBuyer(MethodView):
    @blp.authenticated(callers.buyer)
    @blp.response(204)
    def post(self):
        """购房者退出所有设备"""
        identity.revoke_tokens(g.buyer)
