"""邀请链接：生成、二维码、打开与转化统计."""
from __future__ import annotations

from flask import Response, g, request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.invites import qr
from estate_platform.invites import services as invites
from estate_platform.invites.models import CHANNELS
from estate_platform.projects.services import ProjectNotAccepting, ProjectNotFound
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("invite_links", __name__, description="邀请链接：生成、二维码、打开与转化统计")

CHANNEL_DESCRIPTION = "分享渠道：moments 朋友圈 / group 微信群 / chat 微信私聊 / poster 海报 / offline 线下"


class InviteLinkInputSchema(InputSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS),
                            metadata={"description": CHANNEL_DESCRIPTION})
    project_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                                metadata={"description": "推广的楼盘（选填；不填则为顾问名片链接）"})


class InviteLinkListArgs(QuerySchema):
    project_id = fields.Integer(validate=validate.Range(min=1))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class LinkProjectSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    city = fields.String()
    district = fields.String(allow_none=True)


class InviteLinkSchema(Schema):
    """The owner's view of a link: where it points and how to share it."""
    id = fields.Integer()
    project = fields.Nested(LinkProjectSchema, allow_none=True)
    channel = fields.String()
    channel_label = fields.Function(lambda link: invites.CHANNEL_LABELS[link.channel])
    token = fields.String(metadata={"description": "不可猜测的链接令牌"})
    share_url = fields.Function(lambda link: invites.share_url(request.host_url, link),
                                metadata={"description": "购房者打开的 H5 页面地址 /i/<token>"})
    scene = fields.String(metadata={"description": "小程序码 scene 参数（≤32 个可见 ASCII 字符）"})
    qr_svg_url = fields.Function(lambda link: url_for("invite_links.InviteLinkQrSvg", link_id=link.id))
    qr_png_url = fields.Function(lambda link: url_for("invite_links.InviteLinkQrPng", link_id=link.id))
    active = fields.Function(lambda link: link.disabled_at is None)
    created_at = fields.DateTime()
    disabled_at = fields.DateTime(allow_none=True)


class LinkStatsSchema(Schema):
    """The link's funnel, opens through deals and GMV."""
    link_id = fields.Integer()
    opens = fields.Integer(metadata={"description": "打开次数：仅统计真人浏览器显示页面后由页面脚本上报的打开，"
                                                    "爬虫、链接预览（微信、WhatsApp 等）与 HEAD 请求不计"})
    unique_visitors = fields.Integer(metadata={"description": "独立访客数（按浏览器访客 Cookie 去重）"})
    signups = fields.Integer(metadata={"description": "留资（短信验证）并归因到此链接的购房者数"})
    registrations = fields.Integer(metadata={"description": "来源为此链接的报备数"})
    visits = fields.Integer(metadata={"description": "来源为此链接且到访已确认的报备数"})
    deals = fields.Integer(metadata={"description": "来源为此链接的报备上的有效成交数（不含退房）"})
    gmv_cents = fields.Integer(metadata={"description": "这些成交的总价之和（分，不含退房）"})


class LinkSummarySchema(Schema):
    link = fields.Nested(InviteLinkSchema)
    stats = fields.Nested(LinkStatsSchema)


class InviteLinkPageSchema(Schema):
    items = fields.List(fields.Nested(LinkSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("")
class InviteLinks(MethodView):
    @blp.authenticated(callers.operating_consultant, NotYetApplied, ConsultantInactive, ContractUnsigned,
                       ProjectNotFound, ProjectNotAccepting)
    @blp.arguments(InviteLinkInputSchema)
    @blp.response(201, InviteLinkSchema)
    def post(self, body):
        """生成邀请链接：返回 H5 分享地址、小程序码 scene 与二维码地址（楼盘须在合作报备中）"""
        return invites.create_link(db.session, g.consultant, channel=body["channel"], project_id=body["project_id"],
                                   now=utcnow())

    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(InviteLinkListArgs, location="query")
    @blp.response(200, InviteLinkPageSchema)
    def get(self, args):
        """我的邀请链接（新的在前），每条附打开、留资、报备、到访、成交与成交额统计"""
        items, total = invites.list_own(db.session, g.consultant.id, project_id=args.get("project_id"),
                                        channel=args.get("channel"), page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/<int:link_id>")
class InviteLinkDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, invites.InviteLinkNotFound)
    @blp.response(200, InviteLinkSchema)
    def get(self, link_id):
        """邀请链接详情（只能查看自己的链接）"""
        return invites.own_link(db.session, g.consultant.id, link_id)

    @blp.authenticated(callers.consultant, NotYetApplied, invites.InviteLinkNotFound)
    @blp.response(200, InviteLinkSchema)
    def delete(self, link_id):
        """停用邀请链接：之后打开显示"链接已失效"，历史统计保留（重复停用无副作用）"""
        return invites.disable_link(db.session, g.consultant.id, link_id, now=utcnow())


@blp.route("/<int:link_id>/stats")
class InviteLinkStats(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, invites.InviteLinkNotFound)
    @blp.response(200, LinkStatsSchema)
    def get(self, link_id):
        """单条链接的转化漏斗：打开、独立访客、留资、报备、到访、成交与成交额"""
        return invites.own_link_stats(db.session, g.consultant.id, link_id)


def _qr_response(link_id: int, kind: str) -> Response:
    image = invites.qr_image(db.session, g.consultant.id, link_id, base_url=request.host_url, kind=kind)
    response = Response(image, mimetype=qr.CONTENT_TYPES[kind])
    response.headers["Content-Disposition"] = f'inline; filename="invite-{link_id}.{kind}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


BINARY = {"type": "string", "format": "binary"}


@blp.route("/<int:link_id>/qr.svg")
class InviteLinkQrSvg(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, invites.InviteLinkNotFound)
    @blp.response(200, BINARY, content_type="image/svg+xml", description="二维码（SVG），内容为分享地址")
    def get(self, link_id):
        """邀请链接二维码（SVG，适合印刷海报）"""
        return _qr_response(link_id, "svg")


@blp.route("/<int:link_id>/qr.png")
class InviteLinkQrPng(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, invites.InviteLinkNotFound)
    @blp.response(200, BINARY, content_type="image/png", description="二维码（PNG），内容为分享地址")
    def get(self, link_id):
        """邀请链接二维码（PNG，适合微信转发）"""
        return _qr_response(link_id, "png")
