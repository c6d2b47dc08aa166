"""客户管理：标签、分级、跟进记录、转化漏斗 (the consultant's client book)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.crm import services as crm
from estate_platform.crm.models import TAG_CATEGORIES, TIERS
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.phones import national
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("clients", __name__, description="客户管理：标签、分级、跟进记录、转化漏斗（只能查看和修改自己的客户）")

OPERATING = (NotYetApplied, ConsultantInactive, ContractUnsigned)


# --- schemas -------------------------------------------------------------------------------

class ClientTagSchema(Schema):
    category = fields.String(metadata={"description": "budget 预算 / layout 户型 / purpose 购房目的 / "
                                                      "financing 付款方式 / free 自定义"})
    category_label = fields.Function(lambda tag: crm.CATEGORY_LABELS[tag.category])
    value = fields.String()


class ClientSchema(Schema):
    """The consultant's own client: the full phone is shown because the buyer is his."""
    id = fields.Integer()
    display_name = fields.String()
    phone = fields.Function(lambda card: national(card.buyer.phone))
    tier = fields.String(allow_none=True)
    tier_label = fields.Function(lambda card: crm.TIER_LABELS.get(card.tier) if card.tier else None)
    tags = fields.List(fields.Nested(ClientTagSchema))
    next_contact_at = fields.DateTime(allow_none=True, metadata={"description": "最近一次待提醒的下次联系时间"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ClientPageSchema(Schema):
    items = fields.List(fields.Nested(ClientSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ClientListArgs(QuerySchema):
    tier = fields.String(validate=validate.OneOf(TIERS))
    tag = fields.String(validate=validate.Length(min=1, max=20), metadata={"description": "标签值（任意类别）"})
    q = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "按称呼或手机号搜索"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ClientUpdateSchema(InputSchema):
    tier = fields.String(allow_none=True, validate=validate.OneOf(TIERS),
                         metadata={"description": "A/B/C/D；null 表示取消分级"})
    display_name = fields.String(validate=validate.Length(min=1, max=crm.DISPLAY_NAME_MAX_LENGTH))


class ClientTagInputSchema(InputSchema):
    category = fields.String(required=True, validate=validate.OneOf(TAG_CATEGORIES))
    value = fields.String(required=True, validate=validate.Length(min=1, max=crm.FREE_TAG_MAX_LENGTH))


class ClientTagsInputSchema(InputSchema):
    tags = fields.List(fields.Nested(ClientTagInputSchema), required=True,
                       validate=validate.Length(max=crm.MAX_TAGS_PER_CARD),
                       metadata={"description": "替换后的完整标签集合；预设类别的值须为可选项，自定义标签不超过 20 字"})


class TagVocabularyCategorySchema(Schema):
    category = fields.String()
    label = fields.String()
    values = fields.List(fields.String())
    free = fields.Boolean(metadata={"description": "是否为自定义标签（无可选项）"})
    max_length = fields.Integer(allow_none=True)


class ClientTierSchema(Schema):
    tier = fields.String()
    label = fields.String()


class TagVocabularySchema(Schema):
    categories = fields.List(fields.Nested(TagVocabularyCategorySchema))
    tiers = fields.List(fields.Nested(ClientTierSchema))


class ClientNoteInputSchema(InputSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=crm.NOTE_MAX_LENGTH), metadata={"multiline": True})
    next_contact_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                           metadata={"description": "下次联系时间（ISO 8601，带时区）；到时发送跟进提醒"})


class ClientNoteSchema(Schema):
    id = fields.Integer()
    text = fields.String()
    next_contact_at = fields.DateTime(allow_none=True)
    reminded_at = fields.DateTime(allow_none=True, metadata={"description": "已发送跟进提醒的时间"})
    created_at = fields.DateTime()


class ClientNotePageSchema(Schema):
    items = fields.List(fields.Nested(ClientNoteSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ClientNotesArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ClientFunnelArgs(QuerySchema):
    start = fields.Date(data_key="from", metadata={"description": "开始日期（含，北京时间）；默认结束日期前 29 天"})
    end = fields.Date(data_key="to", metadata={"description": "结束日期（含，北京时间）；默认今天"})
    project_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "只看一个楼盘"})


class ClientFunnelStageSchema(Schema):
    stage = fields.String(metadata={"description": "registrations 报备 → visits 到访（成交阶段待成交模块上线后提供）"})
    label = fields.String()
    count = fields.Integer()
    rate_bps = fields.Integer(allow_none=True, metadata={"description": "相对上一阶段的转化率，基点（1% = 100），"
                                                                      "向下取整；第一阶段为 null"})


class ClientFunnelSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    project_id = fields.Integer(allow_none=True)
    stages = fields.List(fields.Nested(ClientFunnelStageSchema))


# --- handlers -----------------------------------------------------------------------------

@blp.route("")
class Clients(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(ClientListArgs, location="query")
    @blp.response(200, ClientPageSchema)
    def get(self, args):
        """我的客户（按分级、标签、称呼或手机号筛选，最近更新在前，分页）"""
        items, total = crm.list_cards(db.session, g.consultant.id, tier=args.get("tier"), tag=args.get("tag"),
                                      q=args.get("q"), page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/tag-vocabulary")
class TagVocabulary(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.response(200, TagVocabularySchema)
    def get(self):
        """标签类别与预设可选项，以及客户分级说明"""
        return {"categories": crm.tag_vocabulary(),
                "tiers": [{"tier": tier, "label": label} for tier, label in crm.TIER_LABELS.items()]}


@blp.route("/funnel")
class ClientFunnel(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, ValidationFailed)
    @blp.arguments(ClientFunnelArgs, location="query")
    @blp.response(200, ClientFunnelSchema)
    def get(self, args):
        """我的转化漏斗：区间内的报备 → 其中已确认到访的，含转化率（基点）"""
        return crm.funnel(db.session, g.consultant.id, now=utcnow(), start=args.get("start"), end=args.get("end"),
                          project_id=args.get("project_id"))


@blp.route("/<int:client_id>")
class ClientDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, crm.ClientNotFound)
    @blp.response(200, ClientSchema)
    def get(self, client_id):
        """客户详情（只能查看自己的客户）"""
        return crm.own_card(db.session, g.consultant.id, client_id)

    @blp.authenticated(callers.operating_consultant, *OPERATING, crm.ClientNotFound, ValidationFailed)
    @blp.arguments(ClientUpdateSchema)
    @blp.response(200, ClientSchema)
    def patch(self, body, client_id):
        """修改客户分级或称呼"""
        return crm.update_card(db.session, g.consultant.id, client_id, now=utcnow(), **body)


@blp.route("/<int:client_id>/tags")
class ClientTags(MethodView):
    @blp.authenticated(callers.operating_consultant, *OPERATING, crm.ClientNotFound, ValidationFailed)
    @blp.arguments(ClientTagsInputSchema)
    @blp.response(200, ClientSchema)
    def put(self, body, client_id):
        """替换客户标签（预算、户型、购房目的、付款方式为预设项，另可加自定义标签）"""
        tags = [(tag["category"], tag["value"]) for tag in body["tags"]]
        return crm.replace_tags(db.session, g.consultant.id, client_id, tags, now=utcnow())


@blp.route("/<int:client_id>/notes")
class ClientNotes(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, crm.ClientNotFound)
    @blp.arguments(ClientNotesArgs, location="query")
    @blp.response(200, ClientNotePageSchema)
    def get(self, args, client_id):
        """跟进记录（最新在前，分页）"""
        items, total = crm.list_notes(db.session, g.consultant.id, client_id, page=args["page"],
                                      per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @blp.authenticated(callers.operating_consultant, *OPERATING, crm.ClientNotFound, ValidationFailed)
    @blp.arguments(ClientNoteInputSchema)
    @blp.response(201, ClientNoteSchema)
    def post(self, body, client_id):
        """添加跟进记录；填写下次联系时间后，到时会收到跟进提醒"""
        return crm.add_note(db.session, g.consultant.id, client_id, body["text"], now=utcnow(),
                            next_contact_at=body["next_contact_at"])
