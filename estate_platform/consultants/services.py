"""Consultant onboarding and lifecycle (DESIGN §2).

pending → active (operations approve) → suspended ⇄ active → terminated;
pending → rejected (with a reason) → pending again when he re-applies.
Joining never costs anything and recruiting earns nothing by itself.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..db import LOCK_INVITE_GRAPH, advisory_lock
from ..identity.models import StaffUser
from ..identity.services import consume_sms_code
from ..errors import Conflict, NotFound, ValidationFailed, on_constraint
from ..notifications.services import notify
from ..phones import InvalidPhone, normalise_phone, search_digits
from ..referrals import invite_would_create_cycle
from ..registrations.models import Registration
from .models import CONSULTANT_KINDS, Consultant, ConsultantInvite, ConsultantStatusEvent

INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed by hand
INVITE_CODE_LENGTH = 8


class ConsultantNotFound(NotFound):
    code, message = "consultant_not_found", "未找到该顾问"


class NotYetApplied(NotFound):
    code, message = "consultant_not_applied", "您还没有申请成为平台顾问"


@on_constraint("uq_consultants_wechat_user_id", "consultants.wechat_user_id")
class AlreadyApplied(Conflict):
    code, message = "already_applied", "您已提交过申请"


@on_constraint("uq_consultants_phone", "consultants.phone")
class PhoneTaken(Conflict):
    code, message = "phone_taken", "该手机号已被其他顾问使用"


class InviteCodeUnknown(ValidationFailed):
    code = "invite_code_invalid"

    def __init__(self, field: str = "inviter_code"):
        super().__init__({field: ["邀请码无效或邀请人未激活"]}, "邀请码无效或邀请人未激活")


class SelfInvite(Conflict):
    code, message = "invite_self", "不能填写自己的邀请码"


class InviteCycle(Conflict):
    code, message = "invite_cycle", "不能填写您所邀请的顾问（或其下级）的邀请码"


@on_constraint("uq_consultant_invites_invitee_id", "consultant_invites.invitee_id")
class InviterAlreadySet(Conflict):
    code, message = "inviter_already_set", "邀请人只能填写一次"


class InvalidTransition(Conflict):
    code, message = "invalid_status_transition", "当前状态下不能执行该操作"


class InviterWindowClosed(Conflict):
    code, message = "inviter_window_closed", "邀请人只能在申请后 7 天内、首次报备前填写；如需补填请联系平台运营"

    def __init__(self, window_days: int):
        super().__init__(f"邀请人只能在申请后 {window_days} 天内、首次报备前填写；如需补填请联系平台运营",
                         details={"window_days": window_days})


DEFAULT_INVITER_WINDOW_DAYS = 7


STATUS_LABELS = {"pending": "待审核", "active": "已激活", "rejected": "已驳回",
                 "suspended": "已暂停", "terminated": "已终止"}
KIND_LABELS = {"company": "公司顾问", "store": "门店经纪人", "independent": "独立经纪人"}

# action → (allowed from-statuses, to-status, reason required)
TRANSITIONS = {
    "approve": (("pending",), "active", False),
    "reject": (("pending",), "rejected", True),
    "suspend": (("active",), "suspended", True),
    "reinstate": (("suspended",), "active", False),
    "terminate": (("active", "suspended"), "terminated", True),
}


@dataclass
class Application:
    name: str
    phone: str
    city: str
    kind: str
    company_name: str | None = None
    inviter_code: str | None = None
    phone_code: str | None = None  # the SMS code sent to ``phone``: proves it is his (consultants.phone)


def _new_invite_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))
        if session.scalar(select(Consultant.id).where(Consultant.invite_code == code)) is None:
            return code


def _record(session, consultant, from_status, to_status, *, reason, actor_type, actor_id, now):
    session.add(ConsultantStatusEvent(consultant_id=consultant.id, from_status=from_status,
                                      to_status=to_status, reason=reason, actor_type=actor_type,
                                      actor_id=actor_id, created_at=now))


def _validate_application(app: Application) -> tuple[str, str | None]:
    errors: dict[str, list[str]] = {}
    phone = None
    if not app.name.strip():
        errors["name"] = ["请填写姓名"]
    try:
        phone = normalise_phone(app.phone)
    except InvalidPhone:
        errors["phone"] = ["请输入有效的中国大陆手机号"]
    if not app.city.strip():
        errors["city"] = ["请填写所在城市"]
    if app.kind not in CONSULTANT_KINDS:
        errors["kind"] = ["顾问类型须为 company、store 或 independent"]
    company = (app.company_name or "").strip() or None
    if app.kind in ("company", "store") and company is None:
        errors["company_name"] = ["公司或门店顾问须填写公司名称"]
    if errors:
        raise ValidationFailed(errors)
    return phone, company


def _inviter_by_code(session: Session, code: str, field: str = "inviter_code") -> Consultant:
    inviter = session.scalar(select(Consultant).where(Consultant.invite_code == code.strip().upper()))
    if inviter is None or inviter.status != "active":
        raise InviteCodeUnknown(field)
    return inviter


def _link_inviter(session: Session, consultant: Consultant, inviter: Consultant, now: datetime) -> None:
    if inviter.id == consultant.id:
        raise SelfInvite()
    # Two consultants naming each other at the same moment would each see no cycle.
    advisory_lock(session, LOCK_INVITE_GRAPH)
    if session.scalar(select(ConsultantInvite.id).where(ConsultantInvite.invitee_id == consultant.id)):
        raise InviterAlreadySet()
    if invite_would_create_cycle(session, inviter.id, consultant.id):
        raise InviteCycle()
    session.add(ConsultantInvite(inviter_id=inviter.id, invitee_id=consultant.id, valid_from=now))


def apply(session: Session, wechat_user_id: int, application: Application, *, now: datetime,
          secret: str = "", sms_config: dict | None = None) -> Consultant:
    """Apply to join (or re-apply after a rejection). Free of charge, always.

    With ``phone_code`` (an SMS code sent to the phone, checked with ``secret`` and the
    SMS rules in ``sms_config``) the phone is verified at once; without it he verifies it
    later (consultants.phone), and until then it signs nobody in."""
    phone, company = _validate_application(application)
    consultant = session.scalar(select(Consultant).where(Consultant.wechat_user_id == wechat_user_id))
    if consultant is not None and consultant.status != "rejected":
        raise AlreadyApplied(details={"status": consultant.status})
    holder = session.scalar(select(Consultant.id).where(Consultant.phone == phone))
    if holder is not None and (consultant is None or holder != consultant.id):
        raise PhoneTaken()
    inviter = _inviter_by_code(session, application.inviter_code) if application.inviter_code else None
    verified = None
    if (application.phone_code or "").strip():
        # Last of the checks and before any change: a wrong code keeps only its counted attempt.
        consume_sms_code(session, phone, application.phone_code, secret=secret, now=now, config=sms_config)
        verified = now

    previous = None
    if consultant is None:
        consultant = Consultant(wechat_user_id=wechat_user_id, invite_code=_new_invite_code(session),
                                created_at=now)
        session.add(consultant)
    else:
        previous = consultant.status
    consultant.name = application.name.strip()
    if verified is not None:
        consultant.phone_verified_at = verified
    elif consultant.phone != phone:
        consultant.phone_verified_at = None  # a re-application with another number proves nothing yet
    consultant.phone = phone
    consultant.city = application.city.strip()
    consultant.kind = application.kind
    consultant.company_name = company
    consultant.status = "pending"
    consultant.status_reason = None
    consultant.updated_at = now
    session.flush()
    if inviter is not None:
        _link_inviter(session, consultant, inviter, now)
    _record(session, consultant, previous, "pending", reason=None, actor_type="consultant",
            actor_id=consultant.id, now=now)
    session.flush()
    return consultant


def _has_registered(session: Session, consultant_id: int) -> bool:
    first = session.scalar(select(Registration.id).where(Registration.consultant_id == consultant_id).limit(1))
    return first is not None


def set_inviter(session: Session, consultant: Consultant, invite_code: str, *, now: datetime,
                window_days: int = DEFAULT_INVITER_WINDOW_DAYS) -> ConsultantInvite:
    """Name the inviter later (补填邀请人), once, if not given at sign-up: only within
    ``window_days`` of applying and before his first registration. Later, an inviter would
    redirect the upline shares of deals he is already working on (issue 15 §2); then only
    operations may set it, with a reason (``set_inviter_by_staff``)."""
    if now > consultant.created_at + timedelta(days=window_days) or _has_registered(session, consultant.id):
        raise InviterWindowClosed(window_days)
    inviter = _inviter_by_code(session, invite_code, field="invite_code")
    _link_inviter(session, consultant, inviter, now)
    session.flush()
    return session.scalar(select(ConsultantInvite).where(ConsultantInvite.invitee_id == consultant.id))


def set_inviter_by_staff(session: Session, consultant_id: int, invite_code: str, *, reason: str | None,
                         staff_id: int, now: datetime) -> Consultant:
    """Operations name a consultant's inviter after his own window closed, with a reason kept in
    his status history with who did it. Once, never a cycle, as always; the edge is valid from
    now, so deals already subscribed keep the chain they had."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["请填写补填邀请人的原因"]})
    consultant = get_consultant(session, consultant_id)
    inviter = _inviter_by_code(session, invite_code, field="invite_code")
    _link_inviter(session, consultant, inviter, now)
    _record(session, consultant, consultant.status, consultant.status,
            reason=f"运营补填邀请人：{inviter.name}（邀请码 {inviter.invite_code}）。原因：{reason}",
            actor_type="staff", actor_id=staff_id, now=now)
    session.flush()
    session.expire(consultant, ["invited_by"])
    return consultant


def change_status(session: Session, consultant_id: int, action: str, *, staff_id: int,
                  reason: str | None, now: datetime) -> Consultant:
    """Operations approve, reject, suspend, reinstate or terminate a consultant."""
    allowed_from, to_status, needs_reason = TRANSITIONS[action]
    consultant = get_consultant(session, consultant_id)
    reason = (reason or "").strip() or None
    if needs_reason and reason is None:
        raise ValidationFailed({"reason": ["请填写原因"]})
    if consultant.status not in allowed_from:
        raise InvalidTransition(details={"status": consultant.status, "action": action})
    previous = consultant.status
    consultant.status = to_status
    consultant.status_reason = reason
    consultant.updated_at = now
    if action == "approve":
        consultant.approved_at = now
    _record(session, consultant, previous, to_status, reason=reason, actor_type="staff",
            actor_id=staff_id, now=now)
    session.flush()
    why = f"，原因：{reason}" if reason else ""
    notify(session, consultant.id, f"consultant_{STATUS_NOTICES[action][0]}", STATUS_NOTICES[action][1] + why,
           now=now)
    return consultant


# action → (notification kind suffix, what the consultant reads)
STATUS_NOTICES = {
    "approve": ("approved", "您的入驻申请已通过审核，签署平台协议后即可报备客户"),
    "reject": ("rejected", "您的入驻申请未通过审核，可修改资料后重新申请"),
    "suspend": ("suspended", "您的顾问账号已被暂停，暂停期间不能报备、带看或接收转介"),
    "reinstate": ("reinstated", "您的顾问账号已恢复，可继续使用平台各项功能"),
    "terminate": ("terminated", "您与平台的合作已终止"),
}


def get_consultant(session: Session, consultant_id: int) -> Consultant:
    consultant = session.get(Consultant, consultant_id)
    if consultant is None:
        raise ConsultantNotFound()
    return consultant


def consultant_of_user(session: Session, wechat_user_id: int) -> Consultant:
    consultant = session.scalar(select(Consultant).where(Consultant.wechat_user_id == wechat_user_id))
    if consultant is None:
        raise NotYetApplied()
    return consultant


def profile_visible_to(session: Session, wechat_user_id: int, consultant_id: int) -> Consultant:
    """A consultant reads only his own profile; others look like they don't exist."""
    own = session.scalar(select(Consultant).where(Consultant.wechat_user_id == wechat_user_id))
    if own is None or own.id != consultant_id:
        raise ConsultantNotFound()
    return own


def status_history(session: Session, consultant_id: int) -> list[tuple[ConsultantStatusEvent, str]]:
    """The consultant's status changes, oldest first, each with who made it (for people)."""
    events = list(session.scalars(select(ConsultantStatusEvent)
                                  .where(ConsultantStatusEvent.consultant_id == consultant_id)
                                  .order_by(ConsultantStatusEvent.created_at, ConsultantStatusEvent.id)))
    staff_ids = {e.actor_id for e in events if e.actor_type == "staff" and e.actor_id}
    names = dict(session.execute(select(StaffUser.id, StaffUser.display_name)
                                 .where(StaffUser.id.in_(staff_ids))).all()) if staff_ids else {}
    labels = {"consultant": "顾问本人", "system": "系统"}
    return [(e, names.get(e.actor_id, f"员工 #{e.actor_id}") if e.actor_type == "staff" else labels[e.actor_type])
            for e in events]


def list_consultants(session: Session, *, status: str | None = None, search: str | None = None,
                     page: int = 1, per_page: int = 20) -> tuple[list[Consultant], int]:
    query = select(Consultant)
    if status:
        query = query.where(Consultant.status == status)
    if search and search.strip():
        like = f"%{search.strip()}%"
        matches = [Consultant.name.like(like), Consultant.company_name.like(like),
                   Consultant.invite_code == search.strip().upper()]
        digits = search_digits(search)  # a phone however typed: ＋８６ １３９－… finds +86139…
        if digits:
            matches.append(Consultant.phone.like(f"%{digits}%"))
        query = query.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Consultant.created_at.desc(), Consultant.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Consultant.status, func.count()).group_by(Consultant.status))
    return {status: count for status, count in rows}
