"""The revisit rules that are pure (STYLE §5): when a call is due, which deals are sampled,
when an unreachable buyer is tried again, and which answer contradicts the platform's
records (DESIGN §4, §5a).

* Kinds: ``after_visit`` (did the consultant accompany you?), ``before_expiry`` (N days
  before protection ends with no deal: have you bought? where?), ``after_expiry`` (M days
  after it ended with no deal: did you buy, through whom?), ``deal_sample`` (a sample of
  new deals, checked with the buyer).
* An ``unreachable`` call is tried again on the next Shanghai calendar day at the earliest;
  the buyer is retried up to ``max_unreachable`` times, so the call after the last retry
  that is unreachable too closes the task as ``unreachable``.
* Deal sampling is a keyed hash of the deal id below the rate (basis points): the same
  deals are sampled however often the scheduler runs, and nobody without the key can tell
  in advance which deals will be checked.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..clock import local_date, start_of_local_day
from ..money import BPS

KINDS = ("after_visit", "before_expiry", "after_expiry", "deal_sample")
OUTCOMES = ("confirmed", "denied_visit", "bought_direct", "bought_other_agent", "unreachable", "do_not_contact")
STATUSES = ("open", "closed")
BOUGHT = ("bought_direct", "bought_other_agent")

KIND_LABELS = {"after_visit": "到访后回访", "before_expiry": "保护期将满回访", "after_expiry": "保护期满后回访",
               "deal_sample": "成交抽查回访"}
OUTCOME_LABELS = {"confirmed": "客户确认", "denied_visit": "否认顾问带看", "bought_direct": "已直接向开发商购买",
                  "bought_other_agent": "已通过其他中介购买", "unreachable": "未接通",
                  "do_not_contact": "客户要求不再回访"}
STATUS_LABELS = {"open": "待回访", "closed": "已结束"}
FINDING_LABELS = {"fake_visit": "虚假带看", "jumped": "跑单", "poached": "撬单"}

AGENCY_MAX = 100
NOTE_MAX = 500


@dataclass(frozen=True)
class Settings:
    """N, M, the sample rate and the call rules (``REVISIT_*`` in the configuration)."""
    before_expiry_days: int = 7
    after_expiry_days: int = 14
    deal_sample_bps: int = 2000
    claim_minutes: int = 30
    max_unreachable: int = 3
    lookback_days: int = 30

    def __post_init__(self):
        for name in ("before_expiry_days", "after_expiry_days", "claim_minutes", "max_unreachable",
                     "lookback_days"):
            if getattr(self, name) < 0 or (name == "claim_minutes" and self.claim_minutes < 1):
                raise ValueError(f"REVISIT {name} must be a positive number, got {getattr(self, name)}")
        if not 0 <= self.deal_sample_bps <= BPS:
            raise ValueError(f"REVISIT deal_sample_bps must be between 0 and {BPS}, got {self.deal_sample_bps}")

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(before_expiry_days=config.get("REVISIT_BEFORE_EXPIRY_DAYS", cls.before_expiry_days),
                   after_expiry_days=config.get("REVISIT_AFTER_EXPIRY_DAYS", cls.after_expiry_days),
                   deal_sample_bps=config.get("REVISIT_DEAL_SAMPLE_BPS", cls.deal_sample_bps),
                   claim_minutes=config.get("REVISIT_CLAIM_MINUTES", cls.claim_minutes),
                   max_unreachable=config.get("REVISIT_MAX_UNREACHABLE", cls.max_unreachable),
                   lookback_days=config.get("REVISIT_LOOKBACK_DAYS", cls.lookback_days))


# --- when a call is due ----------------------------------------------------------------------

def next_local_day(instant: datetime) -> datetime:
    """The first instant of the Shanghai calendar day after the one ``instant`` falls on."""
    return start_of_local_day(start_of_local_day(instant) + timedelta(hours=36))


def due_after_visit(confirmed_at: datetime) -> datetime:
    """The day after the visit: the buyer has left the sales office and can talk freely."""
    return next_local_day(confirmed_at)


def due_before_expiry(protected_until: datetime, days: int) -> datetime:
    return protected_until - timedelta(days=days)


def due_after_expiry(protected_until: datetime, days: int) -> datetime:
    return protected_until + timedelta(days=days)


def due_deal_sample(recorded_at: datetime) -> datetime:
    return next_local_day(recorded_at)


def next_try(now: datetime) -> datetime:
    """An unreachable buyer is called again on the next Shanghai calendar day at the earliest
    (DESIGN §5a): a call at 23:59 is retried from 00:00, never later the same day."""
    return next_local_day(now)


def after_unreachable(attempts: int, max_unreachable: int) -> tuple[int, bool]:
    """``(unreachable calls so far, closed?)`` after one more unreachable call: the first call
    and ``max_unreachable`` retries; the last retry unreachable too closes the task."""
    attempts += 1
    return attempts, attempts > max_unreachable


# --- which deals are sampled ----------------------------------------------------------------------

def sample_point(deal_id: int, key: bytes) -> int:
    """The deal's place in 0…9999, from a keyed hash of its id (stable, unpredictable without the key)."""
    digest = hmac.new(key, f"revisit-deal-sample:{deal_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BPS


def sampled(deal_id: int, rate_bps: int, key: bytes) -> bool:
    return sample_point(deal_id, key) < rate_bps


# --- what contradicts the platform's records ------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """What the platform's records say about the buyer the call is about."""
    has_confirmed_visit: bool     # the registration has a confirmed visit
    has_live_deal: bool           # a live platform deal for this buyer at this project
    protected_from: date | None   # Shanghai days the registration bound the buyer (None: it never did)
    protected_until: date | None
    served_deal: bool = False     # the call checks a live deal credited to the consultant (deal_sample)


@dataclass(frozen=True)
class Finding:
    kind: str         # fake_visit | jumped | poached
    respondent: str   # consultant | developer

    @property
    def label(self) -> str:
        return FINDING_LABELS[self.kind]


def was_protected(record: Record, on: date) -> bool:
    return (record.protected_from is not None and record.protected_until is not None
            and record.protected_from <= on <= record.protected_until)


def contradiction(record: Record, outcome: str, bought_on: date | None) -> Finding | None:
    """The finding an answer makes, or None when it agrees with the records.

    * ``denied_visit`` against a confirmed visit, or against a deal credited to the
      consultant: his visit (his service) was not real.
    * ``bought_direct`` / ``bought_other_agent`` with no live platform deal, on a day our
      registration protected the buyer: the developer sold him without us (跑单) or let
      another agency take him (撬单). A sale outside protection, or a buyer whose platform
      deal exists, contradicts nothing.
    """
    if outcome == "denied_visit":
        return Finding("fake_visit", "consultant") if record.has_confirmed_visit or record.served_deal else None
    if outcome in BOUGHT:
        if record.has_live_deal or bought_on is None or not was_protected(record, bought_on):
            return None
        return Finding("jumped" if outcome == "bought_direct" else "poached", "developer")
    return None


def needs_bought_on(kind: str, outcome: str) -> bool:
    """After protection ended, only the date tells whether the sale happened while protected."""
    return kind == "after_expiry" and outcome in BOUGHT


def protection_days(created_at: datetime, mode: str, first_visit_at: datetime | None, protected_until: datetime,
                    ended_at: datetime | None, status: str) -> tuple[date | None, date | None]:
    """The Shanghai days a registration bound its buyer: from registering (from the first
    confirmed visit in the 到访为王 mode, where registering binds nothing) until protection
    ran out, or until it ended early (lost, cancelled)."""
    if mode == "visit_deal":
        if first_visit_at is None:
            return None, None
        start = first_visit_at
    else:
        start = created_at
    end = protected_until
    if ended_at is not None and status != "expired":
        end = min(end, ended_at)
    return local_date(start), local_date(end)
