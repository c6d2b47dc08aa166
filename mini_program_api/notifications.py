"""消息通知：报备、带看、转介、跟进提醒 (the consultant's inbox)."""
from __future__ import annotations

import json

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.notifications import inbox
from web_common.api import PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("notifications", __name__, description="消息通知（只能查看自己的消息）")


def _payload(notification) -> dict:
    try:
        payload = json.loads(notification.payload or "{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "registration_accepted、registration_expired、visit_confirmed、"
                                                  "handoff_offered、follow_up_due 等"})
    title = fields.String()
    body = fields.String()
    payload = fields.Function(_payload, metadata={"description": "相关对象的 id（registration_id、client_id …）"})
    read = fields.Function(lambda n: n.read_at is not None)
    read_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    total = fields.Integer()
    unread = fields.Integer(metadata={"description": "未读消息数"})
    page = fields.Integer()
    per_page = fields.Integer()


class NotificationListArgs(QuerySchema):
    unread_only = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class NotificationsReadAllSchema(Schema):
    updated = fields.Integer(metadata={"description": "本次标记为已读的消息数"})
    unread = fields.Integer()


# Reading one's messages (and marking them read) stays open to a suspended consultant:
# "your registration expired" is still his to see.

@blp.route("")
class Notifications(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(NotificationListArgs, location="query")
    @blp.response(200, NotificationPageSchema)
    def get(self, args):
        """我的消息（最新在前，分页；可只看未读），附未读数"""
        return inbox.list_own(db.session, g.consultant.id, unread_only=args["unread_only"], page=args["page"],
                              per_page=args["per_page"])


@blp.route("/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, inbox.NotificationNotFound)
    @blp.response(200, NotificationSchema)
    def post(self, notification_id):
        """标记一条消息为已读（重复标记保留首次阅读时间）"""
        return inbox.mark_read(db.session, g.consultant.id, notification_id, now=utcnow())


@blp.route("/read-all")
class NotificationsReadAll(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.response(200, NotificationsReadAllSchema)
    def post(self):
        """全部标记为已读"""
        return {"updated": inbox.mark_all_read(db.session, g.consultant.id, now=utcnow()), "unread": 0}
