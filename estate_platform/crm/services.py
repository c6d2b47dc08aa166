"""The consultant's client book (客户管理): cards, tags, tiers, follow-up notes and the
conversion funnel (DESIGN §1: registration rate × visit rate × deal rate).

A card is private to its consultant: another consultant's card, or a note on it,
looks like one that does not exist (404 ``client_not_found``, DESIGN §7.6).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..clock import SHANGHAI, local_date
from ..errors import NotFound, ValidationFailed
from ..identity.models import Buyer
from ..notifications.services import notify
from ..phones import search_digits
from ..registrations.models import Registration
from ..visits.models import Visit
from .models import TAG_CATEGORIES, TIERS, ClientCard, ClientTag, FollowUpNote

# --- vocabulary ------------------------------------------------------------------------------

#: Predefined tags, by category; ``free`` tags are the consultant's own words.
TAG_VOCABULARY: dict[str, tuple[str, ...]] = {
    "budget": ("200万以下", "200-300万", "300-500万", "500-800万", "800万以上"),
    "layout": ("一居", "两居", "三居", "四居及以上", "别墅"),
    "purpose": ("刚需", "改善", "投资", "学区", "养老"),
    "financing": ("全款", "商贷", "公积金", "组合贷"),
}
CATEGORY_LABELS = {"budget": "预算", "layout": "户型", "purpose": "购房目的", "financing": "付款方式",
                   "free": "自定义标签"}
TIER_LABELS = {"A": "A类：高意向", "B": "B类：有意向", "C": "C类：意向一般", "D": "D类：暂无意向"}
FREE_TAG_MAX_LENGTH = 20
MAX_TAGS_PER_CARD = 30
DISPLAY_NAME_MAX_LENGTH = 50
NOTE_MAX_LENGTH = 1000
NEXT_CONTACT_MAX_AHEAD = timedelta(days=366)
NEXT_CONTACT_TOLERANCE = timedelta(minutes=5)  # a time picked "now" on a phone whose clock lags

assert set(TAG_VOCABULARY) | {"free"} == set(TAG_CATEGORIES)


class ClientNotFound(NotFound):
    code, message = "client_not_found", "客户不存在"


def tag_vocabulary() -> list[dict]:
    """The categories the mini-program offers, with their choices (free tags have none)."""
    return [{"category": category, "label": CATEGORY_LABELS[category], "values": list(TAG_VOCABULARY.get(category, ())),
             "free": category == "free", "max_length": FREE_TAG_MAX_LENGTH if category == "free" else None}
            for category in TAG_CATEGORIES]


# --- cards ----------------------------------------------------------------------------------

def ensure_card(session: Session, consultant_id: int, buyer_id: int, display_name: str, *,
                now: datetime) -> ClientCard:
    """The consultant's card for this buyer, created on first contact."""
    card = session.scalar(select(ClientCard).where(ClientCard.consultant_id == consultant_id,
                                                   ClientCard.buyer_id == buyer_id))
    if card is None:
        card = ClientCard(consultant_id=consultant_id, buyer_id=buyer_id, display_name=display_name,
                          created_at=now, updated_at=now)
        session.add(card)
        session.flush()
    return card


def _card_query():
    return select(ClientCard).options(joinedload(ClientCard.buyer), selectinload(ClientCard.tags))


def own_card(session: Session, consultant_id: int, card_id: int) -> ClientCard:
    card = session.scalar(_card_query().where(ClientCard.id == card_id))
    if card is None or card.consultant_id != consultant_id:
        raise ClientNotFound()
    return card


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_cards(session: Session, consultant_id: int, *, tier: str | None = None, tag: str | None = None,
               q: str | None = None, page: int = 1, per_page: int = 20) -> tuple[list[ClientCard], int]:
    """The consultant's own cards, most recently changed first. ``q`` matches the name, or
    the phone number when it is digits (they are his own buyers)."""
    query = select(ClientCard).where(ClientCard.consultant_id == consultant_id)
    if tier:
        query = query.where(ClientCard.tier == tier)
    if tag and tag.strip():
        query = query.where(ClientCard.id.in_(select(ClientTag.card_id).where(ClientTag.value == tag.strip())))
    if q and q.strip():
        term = q.strip()
        matches = [ClientCard.display_name.ilike(_like(term), escape="\\")]
        digits = search_digits(term)  # full-width or with separators, as people type it
        if digits and len(digits) >= 4:
            matches.append(ClientCard.buyer_id.in_(select(Buyer.id).where(Buyer.phone.like(f"%{digits}%"))))
        query = query.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    cards = session.scalars(query.options(joinedload(ClientCard.buyer), selectinload(ClientCard.tags))
                            .order_by(ClientCard.updated_at.desc(), ClientCard.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return list(cards), total


_UNSET = object()


def update_card(session: Session, consultant_id: int, card_id: int, *, now: datetime, tier=_UNSET,
                display_name=_UNSET) -> ClientCard:
    """Change the tier (``None`` clears it) and/or the name the consultant knows the buyer by."""
    card = own_card(session, consultant_id, card_id)
    errors: dict[str, list[str]] = {}
    if tier is not _UNSET and tier is not None and tier not in TIERS:
        errors["tier"] = [f"客户分级只能是 {'/'.join(TIERS)}"]
    if display_name is not _UNSET:
        display_name = (display_name or "").strip()
        if not display_name:
            errors["display_name"] = ["请填写客户称呼"]
        elif len(display_name) > DISPLAY_NAME_MAX_LENGTH:
            errors["display_name"] = [f"客户称呼不能超过 {DISPLAY_NAME_MAX_LENGTH} 个字"]
    if errors:
        raise ValidationFailed(errors)
    if tier is not _UNSET:
        card.tier = tier
    if display_name is not _UNSET:
        card.display_name = display_name
    card.updated_at = now
    session.flush()
    return card


def _validate_tags(tags: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Trimmed, known, deduplicated (category, value) pairs, or every problem at once."""
    errors: dict[str, dict[str, dict[str, list[str]]]] = {}
    wanted: list[tuple[str, str]] = []
    for index, (category, value) in enumerate(tags):
        value = " ".join((value or "").split())
        problem: tuple[str, str] | None = None
        if category not in TAG_CATEGORIES:
            problem = ("category", f"标签类别只能是 {'/'.join(TAG_CATEGORIES)}")
        elif category == "free":
            if not value:
                problem = ("value", "自定义标签不能为空")
            elif len(value) > FREE_TAG_MAX_LENGTH:
                problem = ("value", f"自定义标签不能超过 {FREE_TAG_MAX_LENGTH} 个字")
        elif value not in TAG_VOCABULARY[category]:
            problem = ("value", f"“{value}”不是{CATEGORY_LABELS[category]}的可选项："
                                f"{'、'.join(TAG_VOCABULARY[category])}")
        if problem:
            errors.setdefault("tags", {}).setdefault(str(index), {})[problem[0]] = [problem[1]]
        elif (category, value) not in wanted:
            wanted.append((category, value))
    if errors:
        raise ValidationFailed(errors)
    if len(wanted) > MAX_TAGS_PER_CARD:
        raise ValidationFailed({"tags": [f"每位客户最多 {MAX_TAGS_PER_CARD} 个标签"]})
    return wanted


def replace_tags(session: Session, consultant_id: int, card_id: int, tags: list[tuple[str, str]], *,
                 now: datetime) -> ClientCard:
    """Make the card's tags exactly ``tags`` (predefined values checked, free ones trimmed;
    duplicates count once). Tags that stay keep their place; new ones come after them."""
    card = own_card(session, consultant_id, card_id)
    wanted = _validate_tags(tags)
    current = {(tag.category, tag.value): tag for tag in card.tags}
    for key, tag in current.items():
        if key not in wanted:
            card.tags.remove(tag)
    # Removals are flushed first: the unit of work inserts before it deletes, and a tag
    # removed and re-added in one flush would meet itself in the unique constraint.
    session.flush()
    for category, value in wanted:
        if (category, value) not in current:
            card.tags.append(ClientTag(category=category, value=value))
    card.updated_at = now
    session.flush()
    return card


# --- follow-up notes -----------------------------------------------------------------------

def add_note(session: Session, consultant_id: int, card_id: int, text: str, *, now: datetime,
             next_contact_at: datetime | None = None) -> FollowUpNote:
    """Record a follow-up (跟进记录); with ``next_contact_at`` a reminder is sent at that time."""
    card = own_card(session, consultant_id, card_id)
    text = (text or "").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["text"] = ["请填写跟进内容"]
    elif len(text) > NOTE_MAX_LENGTH:
        errors["text"] = [f"跟进内容不能超过 {NOTE_MAX_LENGTH} 个字"]
    if next_contact_at is not None:
        if next_contact_at.tzinfo is None:
            errors["next_contact_at"] = ["请提供带时区的时间"]
        elif next_contact_at < now - NEXT_CONTACT_TOLERANCE:
            errors["next_contact_at"] = ["下次联系时间不能早于现在"]
        elif next_contact_at > now + NEXT_CONTACT_MAX_AHEAD:
            errors["next_contact_at"] = ["下次联系时间不能晚于一年之后"]
    if errors:
        raise ValidationFailed(errors)
    note = FollowUpNote(card_id=card.id, text=text, created_at=now,
                        next_contact_at=next_contact_at.astimezone(timezone.utc) if next_contact_at else None)
    session.add(note)
    card.updated_at = now
    session.flush()
    session.expire(card, ["next_contact_at"])
    return note


def list_notes(session: Session, consultant_id: int, card_id: int, *, page: int = 1,
               per_page: int = 20) -> tuple[list[FollowUpNote], int]:
    card = own_card(session, consultant_id, card_id)
    query = select(FollowUpNote).where(FollowUpNote.card_id == card.id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    notes = session.scalars(query.order_by(FollowUpNote.created_at.desc(), FollowUpNote.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return list(notes), total


def send_follow_up_reminders(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Tell each consultant about the follow-ups due now (客户跟进提醒). Each note reminds
    once: it is marked in the same unit of work, and on PostgreSQL a note another
    worker is handling is skipped."""
    due = session.execute(
        select(FollowUpNote, ClientCard)
        .join(ClientCard, ClientCard.id == FollowUpNote.card_id)
        .where(FollowUpNote.reminded_at.is_(None), FollowUpNote.next_contact_at <= now)
        .order_by(FollowUpNote.next_contact_at, FollowUpNote.id).limit(limit)
        .with_for_update(of=FollowUpNote, skip_locked=True)).all()
    for note, card in due:
        note.reminded_at = now
        planned = note.next_contact_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
        excerpt = note.text if len(note.text) <= 60 else note.text[:59] + "…"
        notify(session, card.consultant_id, "follow_up_due", f"该联系{card.display_name}了（计划 {planned}）：{excerpt}",
               now=now, client_id=card.id, note_id=note.id)
    return len(due)


# --- the funnel ------------------------------------------------------------------------------

FUNNEL_MAX_DAYS = 366
FUNNEL_DEFAULT_DAYS = 30
STAGE_LABELS = {"registrations": "报备", "visits": "到访"}


def rate_bps(numerator: int, denominator: int) -> int:
    """A conversion rate in basis points (1% = 100), rounded down; 0 when nothing to convert."""
    return numerator * 10000 // denominator if denominator else 0


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    label: str
    count: int
    rate_bps: int | None  # from the previous stage; None for the first


def funnel_stages(counts: list[tuple[str, int]]) -> list[FunnelStage]:
    """Stages in order, each with its conversion from the one before."""
    stages, previous = [], None
    for stage, count in counts:
        stages.append(FunnelStage(stage, STAGE_LABELS[stage], count,
                                  None if previous is None else rate_bps(count, previous)))
        previous = count
    return stages


@dataclass(frozen=True)
class Funnel:
    start: date
    end: date
    project_id: int | None
    stages: list[FunnelStage]


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def funnel(session: Session, consultant_id: int, *, now: datetime, start: date | None = None,
           end: date | None = None, project_id: int | None = None) -> Funnel:
    """Registrations made on Shanghai days ``start``…``end`` (inclusive; default the last 30
    days), and how many of them reached a confirmed visit, whenever it happened.

    Deals are not counted yet: there is no deal record to count (they come with the
    deals module), and a guessed number would be worse than none.
    """
    end = end or local_date(now)
    start = start or end - timedelta(days=FUNNEL_DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed({"from": ["开始日期不能晚于结束日期"]})
    if (end - start).days + 1 > FUNNEL_MAX_DAYS:
        raise ValidationFailed({"from": [f"统计区间不能超过 {FUNNEL_MAX_DAYS} 天"]})
    visited = exists().where(Visit.registration_id == Registration.id, Visit.status == "confirmed")
    query = select(func.count(Registration.id), func.coalesce(func.sum(case((visited, 1), else_=0)), 0)).where(
        Registration.consultant_id == consultant_id,
        Registration.created_at >= _local_midnight(start),
        Registration.created_at < _local_midnight(end + timedelta(days=1)))
    if project_id is not None:
        query = query.where(Registration.project_id == project_id)
    registrations, visits = session.execute(query).one()
    return Funnel(start, end, project_id, funnel_stages([("registrations", int(registrations)),
                                                         ("visits", int(visits))]))
