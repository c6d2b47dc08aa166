from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow
from ..evidence.pseudonyms import new_buyer_key

STAFF_ROLES = ("admin", "finance", "operations", "site_staff")


class WechatUser(db.Model):
    """A WeChat user: one person whether he came through the mini-program or through the
    consultant pages opened inside WeChat (the Official Account's web authorisation).

    Each app gives him its own openid; the ``unionid`` is the same in both when the apps
    are bound to one Open Platform account. Without it, the two are linked when he proves
    the consultant's phone with an SMS code (identity.web.sign_in_by_phone)."""
    __tablename__ = "wechat_users"
    __table_args__ = (
        CheckConstraint("openid IS NOT NULL OR oa_openid IS NOT NULL", name="has_openid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The mini-program's openid (None for a person who so far used only the web pages).
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The Official Account's openid (网页授权), once he signed in on the web pages inside WeChat.
    oa_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Buyer(db.Model):
    """A home buyer (购房者); his normalised mobile number is his identity.

    ``evidence_key`` is his own key for the keyed hashes the evidence chain holds instead
    of his phone and name (evidence.pseudonyms); it is made in the INSERT that creates the
    row (no extra statement) and destroyed (NULL) when he is erased (privacy, issue 15 §1).
    An erased buyer keeps his id (money records name it) and a placeholder phone."""
    __tablename__ = "buyers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str | None] = mapped_column(String(50))
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    evidence_key: Mapped[str | None] = mapped_column(String(64), default=new_buyer_key)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StaffUser(db.Model):
    """Platform and developer staff who use the admin pages and admin JSON API."""
    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'finance', 'operations', 'site_staff')", name="role_known"),
        CheckConstraint("role <> 'site_staff' OR developer_id IS NOT NULL", name="site_staff_has_developer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    # Site staff (案场) work for one developer and see only its projects.
    developer_id: Mapped[int | None] = mapped_column(ForeignKey("developers.id"))
    # A deactivated member cannot sign in and his tokens and page sessions stop working;
    # rows are never deleted (deals, approvals and the audit log name them).
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsCode(db.Model):
    """A one-time sign-in code sent to a phone. Only its hash is stored."""
    __tablename__ = "sms_codes"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_sms_codes_phone_created_at", "phone", "created_at"),
        Index("ix_sms_codes_ip_created_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginAttempt(db.Model):
    """Every staff sign-in attempt, kept for the audit trail."""
    __tablename__ = "staff_login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


LOGIN_THROTTLE_SCOPES = ("username", "ip")


class LoginThrottle(db.Model):
    """Failed staff sign-ins counted per normalised username (known or not) and per
    client address, with the back-off they earned (identity.throttle).

    Unknown names get a row exactly like known ones, so the throttle never tells which
    names exist. Nothing here is a lock only time undoes: a success clears the
    username's row and an admin may clear it too.
    """
    __tablename__ = "staff_login_throttles"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        CheckConstraint("scope IN ('username', 'ip')", name="scope_known"),
        CheckConstraint("failures >= 0", name="failures_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


STAFF_AUDIT_ACTIONS = ("create", "role", "deactivate", "reactivate", "password", "sign_out", "unlock")
STAFF_AUDIT_CHANNELS = ("api", "page", "cli")


class StaffAuditEntry(db.Model):
    """One change to a staff account (who, what, whom, when). Append-only: the database
    refuses UPDATE and DELETE. Details never hold a password or its hash."""
    __tablename__ = "staff_audit_log"
    __table_args__ = (
        CheckConstraint("action IN ('create', 'role', 'deactivate', 'reactivate', 'password', 'sign_out', "
                        "'unlock')", name="action_known"),
        CheckConstraint("channel IN ('api', 'page', 'cli')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None when the change came from the command line (the server's operator).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    actor: Mapped[StaffUser | None] = relationship(foreign_keys=[actor_id])
    target: Mapped[StaffUser] = relationship(foreign_keys=[target_id])
