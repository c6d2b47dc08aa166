"""Admin JSON API for staff accounts (/admin/api/v1/staff), admins only: list, create,
change role, deactivate and reactivate, reset a password, sign out everywhere, clear a
sign-in throttle, and the audit log of all of it (estate_platform.identity.staff)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.identity import staff as accounts
from estate_platform.identity.passwords import WeakPassword
from web_common.api import PlatformBlueprint

from .callers import api_roles
from .schemas import (ReasonSchema, StaffAccountPageSchema, StaffAccountSchema, StaffAuditArgs,
                      StaffAuditPageSchema, StaffCreateSchema, StaffListArgs, StaffPasswordSchema, StaffRoleSchema)

blp = PlatformBlueprint("admin_staff_api", __name__,
                        description="员工账号管理（仅管理员）：创建、变更角色、停用/启用、重置密码、强制下线、解除登录限制，操作均记入审计日志")

ADMINS = ("admin",)


def _done(user) -> accounts.StaffAccount:
    return accounts.get_staff(db.session, user.id)


@blp.route("")
class StaffList(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.arguments(StaffListArgs, location="query")
    @blp.response(200, StaffAccountPageSchema)
    def get(self, args):
        """员工列表（按角色、是否在用筛选，按用户名或姓名搜索，分页）"""
        items, total = accounts.list_staff(db.session, role=args.get("role"), active=args.get("active"),
                                           q=args.get("q"), page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @api_roles(blp, *ADMINS)
    @blp.arguments(StaffCreateSchema)
    @blp.response(201, StaffAccountSchema)
    @blp.refuses(ValidationFailed, WeakPassword, accounts.UsernameTaken)
    def post(self, body):
        """创建员工账号（密码至少 12 个字符，不能是常见密码，不能包含用户名）"""
        user = accounts.create_staff(db.session, accounts.NewStaff(**body), actor=g.staff, channel="api",
                                     now=utcnow())
        return _done(user)


@blp.route("/audit")
class StaffAudit(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.arguments(StaffAuditArgs, location="query")
    @blp.response(200, StaffAuditPageSchema)
    def get(self, args):
        """员工账号审计日志（新的在前）"""
        items, total = accounts.audit_log(db.session, target_id=args.get("staff_id"), page=args["page"],
                                          per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/<int:staff_id>")
class StaffDetail(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound)
    def get(self, staff_id):
        """员工账号详情（含登录限速状态）"""
        return accounts.get_staff(db.session, staff_id)


@blp.route("/<int:staff_id>/role")
class StaffRole(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.arguments(StaffRoleSchema)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound, ValidationFailed, accounts.CannotChangeSelf, accounts.LastAdmin)
    def post(self, body, staff_id):
        """变更角色（案场人员须指定开发商；不能改自己的角色；不能降级最后一位管理员）"""
        user = accounts.change_role(db.session, staff_id, body["role"], body["developer_id"], actor=g.staff,
                                    channel="api", now=utcnow())
        return _done(user)


@blp.route("/<int:staff_id>/<any(deactivate, reactivate):action>")
class StaffActive(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.arguments(ReasonSchema)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound, accounts.CannotChangeSelf, accounts.LastAdmin, accounts.StatusUnchanged)
    def post(self, body, staff_id, action):
        """停用 deactivate（不能登录，已签发的 token 和页面会话立即失效）/ 重新启用 reactivate"""
        user = accounts.set_active(db.session, staff_id, action == "reactivate", actor=g.staff, channel="api",
                                   now=utcnow(), reason=body.get("reason"))
        return _done(user)


@blp.route("/<int:staff_id>/password")
class StaffPassword(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.arguments(StaffPasswordSchema)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound, WeakPassword)
    def post(self, body, staff_id):
        """重置密码（须符合密码规则）；该员工已签发的 token 和页面会话全部失效，登录限速清除"""
        user = accounts.reset_password(db.session, staff_id, body["password"], actor=g.staff, channel="api",
                                       now=utcnow())
        return _done(user)


@blp.route("/<int:staff_id>/sign-out")
class StaffSignOut(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound)
    def post(self, staff_id):
        """强制下线：该员工在所有设备上的 token 和页面会话立即失效"""
        user = accounts.sign_out_everywhere(db.session, staff_id, actor=g.staff, channel="api", now=utcnow())
        return _done(user)


@blp.route("/<int:staff_id>/unlock")
class StaffUnlock(MethodView):
    @api_roles(blp, *ADMINS)
    @blp.response(200, StaffAccountSchema)
    @blp.refuses(accounts.StaffNotFound)
    def post(self, staff_id):
        """解除该用户名的登录限速（清除连续失败计数）"""
        user = accounts.unlock(db.session, staff_id, actor=g.staff, channel="api", now=utcnow())
        return _done(user)
