"""Adapters to the outside world (STYLE §10).

Each has a real implementation (HTTP to the provider; tests intercept it) and a
local one, the embedded default, so the product runs with no account anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .notify import LocalNotificationSender, NotificationSender, build_sender
from .sms import HttpSmsSender, LocalSmsSender, SmsSender
from .stripe_connect import LocalPayoutGateway, PayoutGateway, build_gateway
from .wechat import HttpWechatAuth, HttpWechatWebAuth, LocalWechatAuth, LocalWechatWebAuth, WechatAuth, WechatWebAuth


@dataclass
class Adapters:
    wechat: WechatAuth
    sms: SmsSender
    notify: NotificationSender = field(default_factory=LocalNotificationSender)
    # The Official Account's web authorisation for the consultant pages (/m/) opened inside
    # WeChat; None when the real adapter runs without an Official Account configured.
    wechat_web: WechatWebAuth | None = field(default_factory=LocalWechatWebAuth)
    # Payouts (issue 12): Stripe Connect transfers, or the local fake that pays once per key.
    payouts: PayoutGateway = field(default_factory=LocalPayoutGateway)


def build_adapters(config: dict) -> Adapters:
    if config.get("WECHAT_ADAPTER") == "http":
        wechat = HttpWechatAuth(config["WECHAT_APP_ID"], config["WECHAT_APP_SECRET"],
                                base_url=config.get("WECHAT_API_BASE", "https://api.weixin.qq.com"))
    else:
        wechat = LocalWechatAuth()
    if config.get("WECHAT_ADAPTER") != "http":
        wechat_web = LocalWechatWebAuth()
    elif config.get("WECHAT_OA_APP_ID"):
        wechat_web = HttpWechatWebAuth(config["WECHAT_OA_APP_ID"], config["WECHAT_OA_APP_SECRET"],
                                       scope=config.get("WECHAT_OA_SCOPE") or "snsapi_base",
                                       base_url=config.get("WECHAT_API_BASE", "https://api.weixin.qq.com"))
    else:
        wechat_web = None
    if config.get("SMS_ADAPTER") == "http":
        sms = HttpSmsSender(config["SMS_API_URL"], config["SMS_API_KEY"],
                            sign_name=config["SMS_SIGN_NAME"], template_code=config["SMS_TEMPLATE_CODE"])
    else:
        sms = LocalSmsSender()
    return Adapters(wechat=wechat, sms=sms, notify=build_sender(config), wechat_web=wechat_web,
                    payouts=build_gateway(config))
