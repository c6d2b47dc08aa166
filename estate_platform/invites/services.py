"""Invite links and tracking (邀请/打标/追踪, DESIGN §1).

A consultant makes a share link per channel (optionally for one project). An
open of its landing page is counted only when a person's browser shows the page:
the page's own script reports it (a beacon) under the first-party visitor id of
its cookie, and user agents of crawlers, link previews and HTTP clients are
ignored (agents.py). Fetching the page (GET or HEAD) records nothing, so link
previews in WeChat, WhatsApp or Slack do not count. Each counted open keeps the
hashed IP, user agent and referrer. When the buyer signs up with an SMS code
the sign-up is attributed to the *first* link this visitor opened for the project within the
project's window (Project.attribution_window_days), and the registration made
for him carries that link (Registration.source_link_id), so the funnel
opens → sign-ups → registrations → visits → deals (and their GMV) is traceable per link.

A buyer held by a binding registration for the project is never re-attributed,
and an unexpired attribution stays: first touch wins.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from ..consultants.guard import require_operating
from ..consultants.models import Consultant
from ..deals.models import Deal
from ..errors import DomainError, NotFound, ValidationFailed
from ..evidence import services as evidence
from ..evidence.services import Actor
from ..identity.models import Buyer
from ..identity.services import verify_sms_code
from ..phones import InvalidPhone, normalise_phone
from ..projects.services import get_project, require_accepting
from ..registrations import services as registrations
from ..registrations.models import Registration
from ..visits.models import Visit
from . import agents, qr
from .models import CHANNELS, Attribution, InviteLink, LinkOpen

CHANNEL_LABELS = {"moments": "朋友圈", "group": "微信群", "chat": "微信私聊", "poster": "海报", "offline": "线下"}
DEFAULT_WINDOW_DAYS = 30  # links that name no project (the consultant's own card)
SCENE_PREFIX = "i="
SCENE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
SCENE_CODE_LENGTH = 12  # ~69 bits; "i=" + 12 = 14 visible ASCII characters (wxacode allows 32)
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,40}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{8,32}")
MAX_VISIT_DAYS_AHEAD = 90


class InviteLinkNotFound(NotFound):
    code, message = "invite_link_not_found", "邀请链接不存在"


class InviteLinkUnavailable(NotFound):
    """The buyer's view of an unknown, tampered or disabled link: nothing is recorded."""
    code, message = "invite_link_unavailable", "链接无效或已失效"


# --- making and managing links -----------------------------------------------------

def _new_scene() -> str:
    return SCENE_PREFIX + "".join(secrets.choice(SCENE_ALPHABET) for _ in range(SCENE_CODE_LENGTH))


def create_link(session: Session, consultant: Consultant, *, channel: str, project_id: int | None,
                now: datetime) -> InviteLink:
    """A new share link. The caller has checked the consultant may operate; the
    project, if named, must exist and accept registrations."""
    if channel not in CHANNELS:
        raise ValidationFailed({"channel": ["未知的分享渠道"]})
    if project_id is not None:
        require_accepting(get_project(session, project_id), now)
    draws_left = 5
    while True:
        link = InviteLink(consultant_id=consultant.id, project_id=project_id, channel=channel,
                          token=secrets.token_urlsafe(16), scene=_new_scene(), created_at=now)
        try:
            with session.begin_nested():
                session.add(link)
            return link
        except IntegrityError:  # a random token or scene collided: draw again
            draws_left -= 1
            if not draws_left:
                raise


def own_link(session: Session, consultant_id: int, link_id: int) -> InviteLink:
    """A consultant sees only his own links; others look like they don't exist."""
    link = session.get(InviteLink, link_id)
    if link is None or link.consultant_id != consultant_id:
        raise InviteLinkNotFound()
    return link


def disable_link(session: Session, consultant_id: int, link_id: int, *, now: datetime) -> InviteLink:
    """Stop a link (a poster went somewhere it should not). Its history stays. Idempotent."""
    link = own_link(session, consultant_id, link_id)
    if link.disabled_at is None:
        link.disabled_at = now
    return link


def share_url(base_url: str, link: InviteLink) -> str:
    """The absolute URL of the buyer's landing page (the web layer knows the host)."""
    return f"{base_url.rstrip('/')}/i/{link.token}"


def qr_image(session: Session, consultant_id: int, link_id: int, *, base_url: str, kind: str) -> bytes:
    """The QR code (``svg`` or ``png``) of one of the consultant's share URLs."""
    return qr.render(share_url(base_url, own_link(session, consultant_id, link_id)), kind)


# --- the funnel per link ---------------------------------------------------------------

@dataclass(frozen=True)
class LinkStats:
    link_id: int
    opens: int = 0
    unique_visitors: int = 0
    signups: int = 0
    registrations: int = 0
    visits: int = 0
    deals: int = 0
    gmv_cents: int = 0


@dataclass(frozen=True)
class LinkSummary:
    link: InviteLink
    stats: LinkStats


def stats_for(session: Session, link_ids: list[int]) -> dict[int, LinkStats]:
    """The funnel of each link: four grouped queries for a whole page, however many links.

    Deals are the live (not cancelled) deals recorded on registrations whose source is
    the link, and ``gmv_cents`` the sum of their prices.
    """
    if not link_ids:
        return {}
    counts: dict[int, dict[str, int]] = {link_id: {} for link_id in link_ids}
    for link_id, opens, visitors in session.execute(
            select(LinkOpen.link_id, func.count(), func.count(func.distinct(LinkOpen.visitor_id)))
            .where(LinkOpen.link_id.in_(link_ids)).group_by(LinkOpen.link_id)):
        counts[link_id].update(opens=opens, unique_visitors=visitors)
    for link_id, signups in session.execute(
            select(Attribution.link_id, func.count()).where(Attribution.link_id.in_(link_ids))
            .group_by(Attribution.link_id)):
        counts[link_id]["signups"] = signups
    # A registration may carry several live deals (two units): registrations are counted distinct.
    for link_id, registered, deals, gmv in session.execute(
            select(Registration.source_link_id, func.count(func.distinct(Registration.id)), func.count(Deal.id),
                   func.coalesce(func.sum(Deal.price_cents), 0))
            .outerjoin(Deal, (Deal.registration_id == Registration.id) & (Deal.stage != "cancelled"))
            .where(Registration.source_link_id.in_(link_ids))
            .group_by(Registration.source_link_id)):
        counts[link_id].update(registrations=registered, deals=deals, gmv_cents=int(gmv))  # PostgreSQL sums to Decimal
    for link_id, visited in session.execute(
            select(Registration.source_link_id, func.count(func.distinct(Registration.id)))
            .join(Visit, Visit.registration_id == Registration.id)
            .where(Registration.source_link_id.in_(link_ids), Visit.status == "confirmed")
            .group_by(Registration.source_link_id)):
        counts[link_id]["visits"] = visited
    return {link_id: LinkStats(link_id, **values) for link_id, values in counts.items()}


def own_link_stats(session: Session, consultant_id: int, link_id: int) -> LinkStats:
    link = own_link(session, consultant_id, link_id)
    return stats_for(session, [link.id])[link.id]


def list_own(session: Session, consultant_id: int, *, project_id: int | None = None, channel: str | None = None,
             page: int = 1, per_page: int = 20) -> tuple[list[LinkSummary], int]:
    """The consultant's links, newest first, each with its funnel."""
    query = select(InviteLink).where(InviteLink.consultant_id == consultant_id)
    if project_id:
        query = query.where(InviteLink.project_id == project_id)
    if channel:
        query = query.where(InviteLink.channel == channel)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    links = session.scalars(query.order_by(InviteLink.created_at.desc(), InviteLink.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    stats = stats_for(session, [link.id for link in links])
    return [LinkSummary(link, stats[link.id]) for link in links], total


# --- the buyer opens a link ---------------------------------------------------------------

def new_visitor_id() -> str:
    return secrets.token_urlsafe(24)


def is_visitor_id(value: str | None) -> bool:
    return bool(value) and VISITOR_ID.fullmatch(value) is not None


def hash_ip(ip: str, secret: str) -> str:
    """Opens keep a keyed hash of the IP: countable, not readable, not reversible by brute force
    without the app secret."""
    return hmac.new(secret.encode(), f"link-open-ip:{ip}".encode(), hashlib.sha256).hexdigest()


def landing_link(session: Session, token: str) -> InviteLink:
    """The live link behind a token, or the buyer's "link unavailable" refusal.
    A link of a consultant who is no longer active is unavailable too."""
    if not TOKEN.fullmatch(token or ""):
        raise InviteLinkUnavailable()
    link = session.scalar(select(InviteLink).where(InviteLink.token == token))
    if link is None or link.disabled_at is not None or link.consultant.status != "active":
        raise InviteLinkUnavailable()
    return link


def count_open(session: Session, token: str, *, visitor_id: str, ip: str, user_agent: str, referrer: str | None,
               secret: str, now: datetime) -> LinkOpen | None:
    """Count an open of a live link, reported by its page's script once a browser showed it.

    The caller has proved the report comes from this visitor's own page (cookie and page
    token). Crawlers and programs that run scripts are ignored (``None``): nothing is
    recorded for them. Unique visitors are the distinct visitor ids of a link's opens.
    """
    if not is_visitor_id(visitor_id):
        raise ValueError("visitor ids are made by new_visitor_id()")
    link = landing_link(session, token)
    if agents.is_automated(user_agent):
        return None
    opened = LinkOpen(link_id=link.id, visitor_id=visitor_id, opened_at=now, ip_hash=hash_ip(ip, secret),
                      user_agent=(user_agent or "")[:500], referrer=(referrer or "")[:500] or None,
                      channel=link.channel)
    session.add(opened)
    session.flush()
    return opened


# --- attribution (first touch) ---------------------------------------------------------------

def window_days(link: InviteLink) -> int:
    return link.project.attribution_window_days if link.project is not None else DEFAULT_WINDOW_DAYS


def _same_project(column, project_id: int | None):
    return column.is_(None) if project_id is None else column == project_id


def current_attribution(session: Session, buyer_id: int, project_id: int | None, now: datetime) -> Attribution | None:
    return session.scalar(select(Attribution).where(Attribution.buyer_id == buyer_id,
                                                    _same_project(Attribution.project_id, project_id),
                                                    Attribution.expires_at > now)
                          .order_by(Attribution.attributed_at, Attribution.id).limit(1))


def first_touch(session: Session, visitor_id: str, project_id: int | None, *, since: datetime) -> LinkOpen | None:
    """The earliest open by this visitor, since ``since``, of a live link for the project
    whose consultant is still active."""
    return session.scalar(
        select(LinkOpen).join(InviteLink, InviteLink.id == LinkOpen.link_id)
        .join(Consultant, Consultant.id == InviteLink.consultant_id)
        .where(LinkOpen.visitor_id == visitor_id, LinkOpen.opened_at >= since,
               _same_project(InviteLink.project_id, project_id), InviteLink.disabled_at.is_(None),
               Consultant.status == "active")
        .order_by(LinkOpen.opened_at, LinkOpen.id).limit(1))


def attribute(session: Session, buyer: Buyer, link: InviteLink, *, visitor_id: str,
              now: datetime) -> tuple[Attribution | None, bool]:
    """Tie the buyer to a link for the link's project: ``(attribution, bound)``.

    * bound by a binding registration for the project → never re-attributed: ``(None, True)``;
    * an unexpired attribution for (buyer, project) stays;
    * otherwise the earliest open by this visitor within the project's window wins
      (the link being signed up on when no earlier open counts).
    """
    if link.project_id is not None and registrations.binding_registration(session, link.project_id, buyer.id):
        return None, True
    existing = current_attribution(session, buyer.id, link.project_id, now)
    if existing is not None:
        return existing, False
    days = window_days(link)
    touch = first_touch(session, visitor_id, link.project_id, since=now - timedelta(days=days))
    touched_link = session.get(InviteLink, touch.link_id) if touch else link
    attribution = Attribution(buyer_id=buyer.id, project_id=link.project_id, link_id=touched_link.id,
                              consultant_id=touched_link.consultant_id,
                              first_opened_at=touch.opened_at if touch else now, attributed_at=now,
                              expires_at=now + timedelta(days=days))
    session.add(attribution)
    session.flush()
    evidence.append(session, "attribution", attribution.id, "attributed", Actor("buyer", buyer.id), now=now,
                    buyer_id=buyer.id, project_id=link.project_id, link_id=touched_link.id,
                    consultant_id=touched_link.consultant_id, signed_up_on_link_id=link.id,
                    first_opened_at=attribution.first_opened_at.isoformat(),
                    expires_at=attribution.expires_at.isoformat())
    return attribution, False


# --- the buyer signs up on the landing page --------------------------------------------------

@dataclass
class BuyerSignup:
    """What the landing page's form sends, as typed."""
    name: str
    phone: str
    sms_code: str
    visit_date: str = ""  # YYYY-MM-DD, optional


@dataclass(frozen=True)
class SignupResult:
    link: InviteLink
    buyer: Buyer
    attribution: Attribution | None
    registration: Registration | None
    #: Why no registration was made for a project link (already registered, paused project …).
    refusal: DomainError | None = None


def _visit_instant(value: date, now: datetime) -> datetime:
    """A visit day means "that day": 10:00 Shanghai, or now when that has passed today."""
    return max(datetime.combine(value, time(10), tzinfo=SHANGHAI).astimezone(timezone.utc), now)


def _validate_signup(form: BuyerSignup, link: InviteLink, now: datetime) -> tuple[str, str, datetime | None]:
    errors: dict[str, list[str]] = {}
    name = (form.name or "").strip()
    phone = ""
    visit_at = None
    if not name:
        errors["name"] = ["请填写您的姓名"]
    elif len(name) > 50:
        errors["name"] = ["姓名不能超过 50 个字"]
    try:
        phone = normalise_phone(form.phone or "")
    except InvalidPhone:
        errors["phone"] = ["请输入有效的中国大陆手机号"]
    if not re.fullmatch(r"\d{6}", (form.sms_code or "").strip()):
        errors["sms_code"] = ["请输入 6 位短信验证码"]
    raw_date = (form.visit_date or "").strip()
    if raw_date and link.project_id is not None:
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            errors["visit_date"] = ["请选择有效的日期"]
        else:
            today = local_date(now)
            if day < today:
                errors["visit_date"] = ["到访日期不能早于今天"]
            elif day > today + timedelta(days=MAX_VISIT_DAYS_AHEAD):
                errors["visit_date"] = [f"只能预约 {MAX_VISIT_DAYS_AHEAD} 天内的到访"]
            else:
                visit_at = _visit_instant(day, now)
    if errors:
        raise ValidationFailed(errors)
    return name, phone, visit_at


def sign_up(session: Session, token: str, form: BuyerSignup, *, visitor_id: str, secret: str, now: datetime,
            config: dict) -> SignupResult:
    """The buyer leaves name and phone (proved by SMS code) on a link's landing page.

    Signs the buyer up, attributes him (first touch), and — when the link names a
    project — registers him for the attributed link's consultant under the same
    rules as the consultant's own registration (registrations.services.register).
    A refused registration does not undo the sign-up: it is returned as ``refusal``
    for the page to explain without naming anyone.
    """
    link = landing_link(session, token)
    name, phone, visit_at = _validate_signup(form, link, now)
    buyer = verify_sms_code(session, phone, form.sms_code.strip(), secret=secret, now=now, config=config).subject
    if not buyer.name:
        buyer.name = name
    if not is_visitor_id(visitor_id):
        visitor_id = new_visitor_id()  # no counted opens: the link signed up on is the touch
    attribution, bound = attribute(session, buyer, link, visitor_id=visitor_id, now=now)
    if link.project_id is None:
        return SignupResult(link, buyer, attribution, None)
    if bound:
        holder = registrations.binding_registration(session, link.project_id, buyer.id)
        refusal = registrations.AlreadyRegistered(details={"protected_until": holder.protected_until.isoformat()})
        return SignupResult(link, buyer, None, None, refusal)
    credited = session.get(InviteLink, attribution.link_id)
    try:
        with session.begin_nested():
            consultant = require_operating(session, credited.consultant)
            registration = registrations.register(
                session, consultant,
                registrations.NewRegistration(project_id=link.project_id, buyer_name=name, buyer_phone=phone,
                                              expected_visit_at=visit_at),
                now=now, source_link_id=credited.id, actor=Actor("buyer", buyer.id))
    except DomainError as refusal:
        return SignupResult(link, buyer, attribution, None, refusal)
    return SignupResult(link, buyer, attribution, registration)
