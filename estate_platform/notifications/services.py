"""Telling consultants what happened: a row they can list, and a WeChat message sent after commit."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import insert, literal, select, tuple_
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..db import after_commit_deliver
from ..ledger.copy import copy_rows
from .delivery import REDELIVERY_WINDOW
from .models import Notification

KINDS = {
    "registration_accepted": "报备成功",
    "registration_expiring": "报备保护即将到期",
    "registration_expired": "报备已过期",
    "registration_lost": "客户已被其他顾问带看",
    "visit_confirmed": "带看已确认",
    "visit_invalid": "带看被判无效",
    "handoff_offered": "收到客户转介",
    "handoff_accepted": "转介已被接收",
    "handoff_declined": "转介被拒绝",
    "handoff_unrouted": "转介暂无顾问承接",
    "follow_up_due": "客户跟进提醒",
    "deal_recorded": "客户已成交",
    "deal_stage_changed": "成交进度更新",
    "deal_cancelled": "成交已退房",
    "commission_recognised": "佣金已确认",
    "commission_reversed": "佣金已冲回",
    "dispute_opened": "争议已立案",
    "dispute_decided": "争议已裁决",
    "dispute_withdrawn": "争议已撤回",
    "credit_changed": "信用分变动",
    # The consultant's own account (issue 15 §3).
    "consultant_approved": "入驻申请已通过",
    "consultant_rejected": "入驻申请未通过",
    "consultant_suspended": "顾问账号已暂停",
    "consultant_reinstated": "顾问账号已恢复",
    "consultant_terminated": "平台合作已终止",
    "agreement_published": "平台协议已更新",
    "handoff_withdrawn": "转介已撤回",
    "deal_repriced": "成交价已更正",
    "deal_change_requested": "案场申请变更成交",
    "deal_change_rejected": "成交变更申请未获批准",
}


def notify(session: Session, consultant_id: int, kind: str, body: str, *, now: datetime,
           **payload) -> int:
    """Record a notification and deliver it (WeChat subscribe message) once the unit of work commits.
    Returns its id. The row is one Core INSERT (nothing loaded back: issue 16 §1); the row is the
    outbox: the commit wakes the worker's drain, which sends it (``db.after_commit_deliver``)."""
    values = notification_values(consultant_id, kind, body, now=now, **payload)
    session.flush()  # pending ORM changes first, as callers expect of a write
    notification_id = session.connection().execute(_INSERT, values).scalar_one()
    deliver_after_commit(session, notification_id)
    return notification_id


def notification_values(consultant_id: int, kind: str, body: str, *, now: datetime, **payload) -> dict:
    """The columns of a new notification: for a caller that writes it with other rows in one
    statement (the registration path), then calls ``deliver_after_commit``."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    return {"consultant_id": consultant_id, "kind": kind, "title": KINDS[kind], "body": body,
            "payload": json.dumps(payload, ensure_ascii=False, default=str), "created_at": now}


def deliver_after_commit(session: Session, notification_id: int) -> None:
    after_commit_deliver(session, "notification", notification_id)


_INSERT = Notification.__table__.insert().returning(Notification.__table__.c.id)


def claim_undelivered(session: Session, *, after: tuple | None, limit: int, now: datetime) -> list[tuple]:
    """The outbox drain's claim (``tasks.drain_outbox``): up to ``limit`` notifications never tried
    (not delivered, no error) of the redelivery window, after the cursor ``after`` in
    ``(created_at, id)`` order, as ``((created_at, id), id)``. Locked ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL: another drain's rows are skipped. The partial index
    ``ix_notifications_undelivered`` holds only these rows, so the claim never scans delivered
    ones. A failure worth retrying leaves the drain's rows (``delivery_error``): the redelivery
    sweep retries it."""
    n = Notification.__table__.c
    query = select(n.created_at, n.id).where(n.delivered_at.is_(None), n.delivery_error.is_(None),
                                             n.created_at > now - REDELIVERY_WINDOW)
    if after is not None:
        query = query.where(tuple_(n.created_at, n.id) > tuple_(*after))
    rows = session.execute(query.order_by(n.created_at, n.id).limit(limit).with_for_update(skip_locked=True))
    return [((created_at, notification_id), notification_id) for created_at, notification_id in rows]


def notify_many(session: Session, rows: list[tuple[int, str, str, dict]], *, now: datetime) -> int:
    """Record many notifications at once (a batch job): ``(consultant_id, kind, body, payload)``.
    They are delivered by the outbox drain's next run (the beat's, within seconds), not one task each."""
    if not rows:
        return 0
    for _, kind, _, _ in rows:
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
    payloads: dict[int, str] = {}  # a batch passes one payload object to many rows: encoded once
    for _, _, _, payload in rows:
        if id(payload) not in payloads:
            payloads[id(payload)] = json.dumps(payload, ensure_ascii=False, default=str)
    copy_rows(session, Notification.__table__, [
        (consultant_id, kind, KINDS[kind], body, payloads[id(payload)], now)
        for consultant_id, kind, body, payload in rows], columns=_MANY_COLUMNS)
    return len(rows)


_MANY_COLUMNS = ("consultant_id", "kind", "title", "body", "payload", "created_at")


def notify_active_consultants(session: Session, kind: str, body: str, *, now: datetime, **payload) -> int:
    """The same notification to every active consultant (a new agreement to sign), written by one
    INSERT … SELECT however many they are; the outbox drain sends them (``notify_many``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    rows = select(Consultant.id, literal(kind), literal(KINDS[kind]), literal(body),
                  literal(json.dumps(payload, ensure_ascii=False, default=str)),
                  literal(now, type_=Notification.__table__.c.created_at.type)).where(Consultant.status == "active")
    result = session.execute(insert(Notification).from_select(
        ["consultant_id", "kind", "title", "body", "payload", "created_at"], rows))
    return result.rowcount or 0
