"""Staff accounts (员工账号) managed by admins: create, change role, deactivate and
reactivate, reset a password, sign out everywhere, clear a sign-in throttle.

Every change appends one row to the staff audit log (who, what, whom, when, and details
that never hold a password or its hash). The command line calls the same functions with
no actor. An admin cannot deactivate or demote himself, and the last active admin cannot
be removed, so the platform always keeps someone who can manage staff.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..db import paginate
from ..errors import Conflict, NotFound, ValidationFailed, on_constraint
from ..security import hash_password
from . import throttle
from .models import STAFF_ROLES, LoginThrottle, StaffAuditEntry, StaffUser
from .passwords import require_strong_password
from .services import find_staff, revoke_tokens

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
ACTION_LABELS = {"create": "创建账号", "role": "变更角色", "deactivate": "停用账号", "reactivate": "重新启用",
                 "password": "重置密码", "sign_out": "强制下线（所有设备）", "unlock": "解除登录限制"}
CHANNEL_LABELS = {"api": "后台 API", "page": "后台页面", "cli": "命令行"}


class StaffNotFound(NotFound):
    code, message = "staff_not_found", "员工账号不存在"


@on_constraint("uq_staff_users_username", "staff_users.username")
class UsernameTaken(Conflict):
    code, message = "username_taken", "用户名已被占用"


class CannotChangeSelf(Conflict):
    code, message = "cannot_change_self", "不能停用自己的账号或更改自己的角色，请让另一位管理员操作"


class LastAdmin(Conflict):
    code, message = "last_admin", "这是最后一位在用的管理员，不能停用或降级"


class StatusUnchanged(Conflict):
    code, message = "staff_status_unchanged", "账号已是该状态"


@dataclass(frozen=True)
class NewStaff:
    username: str
    display_name: str
    role: str
    password: str
    developer_id: int | None = None


@dataclass(frozen=True)
class StaffAccount:
    """A staff member as admins see him: the account and its sign-in throttle."""
    user: StaffUser
    login_failures: int = 0
    login_blocked_until: datetime | None = None


# --- reading ------------------------------------------------------------------------------------

def _accounts(session: Session, users: list[StaffUser]) -> list[StaffAccount]:
    states = throttle.username_states(session, [u.username for u in users])
    accounts = []
    for user in users:
        state = states.get(throttle.normalise_username(user.username))
        accounts.append(StaffAccount(user, state.failures if state else 0, state.blocked_until if state else None))
    return accounts


def list_staff(session: Session, *, role: str | None = None, active: bool | None = None, q: str | None = None,
               page: int = 1, per_page: int = 20) -> tuple[list[StaffAccount], int]:
    query = select(StaffUser)
    if role is not None:
        query = query.where(StaffUser.role == role)
    if active is not None:
        query = query.where(StaffUser.is_active.is_(active))
    if q:
        pattern = f"%{q.strip().casefold()}%"
        query = query.where(or_(func.lower(StaffUser.username).like(pattern),
                                func.lower(StaffUser.display_name).like(pattern)))
    users, total = paginate(session, query, StaffUser.username, page=page, per_page=per_page)
    return _accounts(session, users), total


def get_staff(session: Session, staff_id: int) -> StaffAccount:
    return _accounts(session, [_user(session, staff_id)])[0]


def _user(session: Session, staff_id: int, *, lock: bool = False) -> StaffUser:
    query = select(StaffUser).where(StaffUser.id == staff_id)
    user = session.scalar(query.with_for_update() if lock else query)
    if user is None:
        raise StaffNotFound()
    return user


def audit_log(session: Session, *, target_id: int | None = None, page: int = 1,
              per_page: int = 50) -> tuple[list[StaffAuditEntry], int]:
    query = select(StaffAuditEntry).options(selectinload(StaffAuditEntry.actor), selectinload(StaffAuditEntry.target))
    if target_id is not None:
        query = query.where(StaffAuditEntry.target_id == target_id)
    return paginate(session, query, StaffAuditEntry.id.desc(), page=page, per_page=per_page)


# --- changing -----------------------------------------------------------------------------------

def _log(session: Session, actor: StaffUser | None, channel: str, action: str, target: StaffUser, now: datetime,
         **details) -> None:
    session.add(StaffAuditEntry(actor_id=actor.id if actor else None, channel=channel, action=action,
                                target_id=target.id, details={k: v for k, v in details.items() if v is not None},
                                created_at=now))


def _check_role(session: Session, role: str, developer_id: int | None, errors: dict) -> None:
    from ..projects.models import Developer  # projects depends on identity, not the other way round
    if role not in STAFF_ROLES:
        errors["role"] = ["请选择角色：管理员、财务、运营或案场"]
    elif role == "site_staff":
        if developer_id is None:
            errors["developer_id"] = ["案场人员须选择所属开发商"]
        elif session.get(Developer, developer_id) is None:
            errors["developer_id"] = ["开发商不存在"]
    elif developer_id is not None:
        errors["developer_id"] = ["只有案场人员属于某个开发商"]


def create_staff(session: Session, data: NewStaff, *, actor: StaffUser | None, channel: str, now: datetime,
                 operator: str | None = None) -> StaffUser:
    username = data.username.strip().casefold()
    display_name = data.display_name.strip()
    errors: dict[str, list[str]] = {}
    if not USERNAME.fullmatch(username):
        errors["username"] = ["用户名为 2–50 位小写字母、数字或 . _ -，以字母或数字开头"]
    if not 1 <= len(display_name) <= 50:
        errors["display_name"] = ["请填写姓名（最多 50 字）"]
    _check_role(session, data.role, data.developer_id, errors)
    if errors:
        raise ValidationFailed(errors)
    require_strong_password(data.password, username)
    if find_staff(session, username) is not None:
        raise UsernameTaken(details={"username": username})
    user = StaffUser(username=username, display_name=display_name, role=data.role, developer_id=data.developer_id,
                     password_hash=hash_password(data.password), is_active=True, created_at=now)
    session.add(user)
    session.flush()  # a concurrent twin fails here on the unique username → username_taken
    _log(session, actor, channel, "create", user, now, username=username, display_name=display_name,
         role=data.role, developer_id=data.developer_id, operator=operator)
    return user


def _refuse_self(actor: StaffUser | None, user: StaffUser) -> None:
    if actor is not None and actor.id == user.id:
        raise CannotChangeSelf()


def _keep_an_admin(session: Session, user: StaffUser) -> None:
    """Removing an active admin (deactivation or demotion) must leave another one. The
    active admins are locked first, so two admins removing each other cannot both pass."""
    if user.role != "admin" or not user.is_active:
        return
    admins = session.scalars(select(StaffUser.id).where(StaffUser.role == "admin", StaffUser.is_active.is_(True))
                             .order_by(StaffUser.id).with_for_update()).all()
    if not set(admins) - {user.id}:
        raise LastAdmin()


def change_role(session: Session, staff_id: int, role: str, developer_id: int | None = None, *,
                actor: StaffUser | None, channel: str, now: datetime, operator: str | None = None) -> StaffUser:
    user = _user(session, staff_id, lock=True)
    _refuse_self(actor, user)
    errors: dict[str, list[str]] = {}
    _check_role(session, role, developer_id, errors)
    if errors:
        raise ValidationFailed(errors)
    if (user.role, user.developer_id) == (role, developer_id):
        return user
    if role != "admin":
        _keep_an_admin(session, user)
    _log(session, actor, channel, "role", user, now, role_from=user.role, role_to=role,
         developer_id_from=user.developer_id, developer_id_to=developer_id, operator=operator)
    user.role, user.developer_id = role, developer_id
    return user


def set_active(session: Session, staff_id: int, active: bool, *, actor: StaffUser | None, channel: str,
               now: datetime, reason: str | None = None, operator: str | None = None) -> StaffUser:
    """Deactivate (sign-in refused, every token and page session ends) or reactivate."""
    user = _user(session, staff_id, lock=True)
    _refuse_self(actor, user)
    if user.is_active == active:
        raise StatusUnchanged("账号已是启用状态" if active else "账号已停用")
    if not active:
        _keep_an_admin(session, user)
        revoke_tokens(user)
    user.is_active = active
    _log(session, actor, channel, "reactivate" if active else "deactivate", user, now,
         reason=(reason or "").strip() or None, operator=operator)
    return user


def reset_password(session: Session, staff_id: int, password: str, *, actor: StaffUser | None, channel: str,
                   now: datetime, operator: str | None = None) -> StaffUser:
    """Set a new password (the policy applies); every token and session of the member ends,
    and his sign-in throttle is cleared so he can use it at once."""
    user = _user(session, staff_id, lock=True)
    require_strong_password(password, user.username)
    user.password_hash = hash_password(password)
    revoke_tokens(user)
    throttle.clear_username(session, user.username)
    _log(session, actor, channel, "password", user, now, tokens_revoked=True, operator=operator)
    return user


def sign_out_everywhere(session: Session, staff_id: int, *, actor: StaffUser | None, channel: str,
                        now: datetime, operator: str | None = None) -> StaffUser:
    user = _user(session, staff_id, lock=True)
    revoke_tokens(user)
    _log(session, actor, channel, "sign_out", user, now, operator=operator)
    return user


def unlock(session: Session, staff_id: int, *, actor: StaffUser | None, channel: str, now: datetime,
           operator: str | None = None) -> StaffUser:
    """Clear the member's username throttle (the address throttle is left alone: it guards
    against one address guessing many names)."""
    user = _user(session, staff_id)
    state: LoginThrottle | None = throttle.username_states(session, [user.username]).get(
        throttle.normalise_username(user.username))
    throttle.clear_username(session, user.username)
    _log(session, actor, channel, "unlock", user, now, failures=state.failures if state else 0,
         was_blocked=bool(state and state.blocked_until and state.blocked_until > now), operator=operator)
    return user
