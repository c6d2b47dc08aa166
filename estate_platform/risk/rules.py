"""The risk jobs' rules (风控规则, DESIGN §4): thresholds, scores and reasons, pure.

Each pattern the field's channel systems check every night (xkc's RiskTask: 防截客,
deals soon after registration, 撞单 …) is a function of plain values here: it says
whether the facts cross the project's threshold and, if so, the score (0–100, higher is
more suspicious: about 50–60 at the threshold, 100 far beyond it) and a plain Chinese
reason with the numbers. ``risk.jobs`` loads the facts and saves the flags.

Windows over many events (撞单, velocity, fishing) are read as *episodes*: the first
event at which one window holds enough events starts an episode, the next window after
it belongs to the same episode, and only then may a new one start. The episode is named
by that first event, so a re-run (or tomorrow's run, which still sees it) names the
same flag.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from ..money import yuan

#: How far back a nightly run looks (at least twice each window it checks).
LOOKBACK_DAYS = 14
#: Ids kept in a flag's evidence per list (the counts stay exact).
EVIDENCE_IDS_MAX = 50

KIND_LABELS = {
    "anti_interception": "防截客",
    "short_deal": "短周期成交",
    "collision": "撞单",
    "velocity": "高频报备",
    "fishing": "试探老客户",
    "price_drop": "成交价下调",
    "unit_rerecorded": "退房后换客重签",
    "buyer_objection": "客户否认报备",
}
STATUS_LABELS = {"open": "待处理", "dismissed": "已排除", "disputed": "已立案"}

# Who answers for a pattern when operations open a dispute from its flag. The consultant's
# own conduct: he registered a buyer already in the office, registered too fast, fished for
# the developer's customers, or joined a scramble for one buyer. The developer's records:
# a price cut after the deal, or a unit cancelled and sold again to someone else, change
# what the deal's consultant earns (he is named as the protected party, the victim). A buyer
# who says he never asked to be registered points at the registering consultant.
RESPONDENTS = {"anti_interception": "consultant", "short_deal": "consultant", "collision": "consultant",
               "velocity": "consultant", "fishing": "consultant", "price_drop": "developer",
               "unit_rerecorded": "developer", "buyer_objection": "consultant"}
#: Kinds that lower the flagged consultant's credit (credit.services.risk_flagged), once per
#: flag. 撞单 does not: it shows a scramble, not which of the consultants broke a rule; the
#: developer-side kinds are not the consultant's doing. A buyer's objection does not either:
#: his word alone is checked by operations first (a revisit call, a dispute if it holds).
CREDIT_KINDS = ("anti_interception", "short_deal", "velocity", "fishing")


@dataclass(frozen=True)
class Finding:
    score: int
    reason: str


# --- single events ------------------------------------------------------------------------------------

def _score(base: int, extra: float) -> int:
    return max(0, min(100, round(base + extra)))


def minutes_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} 分钟" if minutes >= 1 else "不到 1 分钟"


def duration_text(seconds: float) -> str:
    """For people: 不到 1 分钟 / 40 分钟 / 5 小时 / 5 小时 20 分钟 / 3 天."""
    if seconds < 3600:
        return minutes_text(seconds)
    hours, rest = divmod(int(seconds), 3600)
    if hours >= 72:
        return f"{hours // 24} 天"
    minutes = rest // 60
    return f"{hours} 小时 {minutes} 分钟" if minutes else f"{hours} 小时"


def _spaced(text: str) -> str:
    """A number is set off by a space from the Chinese before it (登记后 3 分钟, 登记后不到 1 分钟)."""
    return f" {text}" if text[:1].isdigit() else text


def window_text(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)} 天"
    if minutes % 60 == 0:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"


def percent_text(bps: int) -> str:
    """500 → 5%, 750 → 7.5%, 1234 → 12.34%."""
    whole, rest = divmod(bps, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def anti_interception(elapsed: timedelta, within_minutes: int) -> Finding | None:
    """防截客: a visit confirmed this soon after its registration — the consultant registered a
    buyer already standing in the sales office."""
    seconds = elapsed.total_seconds()
    if seconds < 0 or seconds > within_minutes * 60:
        return None
    return Finding(_score(60, 40 * (1 - seconds / (within_minutes * 60))),
                   f"登记后{_spaced(minutes_text(seconds))}即确认到访（阈值 {within_minutes} 分钟）")


def short_deal(elapsed: timedelta, within_hours: int) -> Finding | None:
    """A subscription this soon after the registration (at most ``elapsed``: the deal's day is
    known, not its hour)."""
    seconds = elapsed.total_seconds()
    if seconds < 0 or seconds > within_hours * 3600:
        return None
    return Finding(_score(50, 40 * (1 - seconds / (within_hours * 3600))),
                   f"登记后{_spaced(duration_text(seconds))}内即认购（阈值 {within_hours} 小时）")


def price_drop(from_cents: int, to_cents: int, threshold_bps: int) -> Finding | None:
    """A deal's price corrected downward by at least the threshold (basis points of the old price)."""
    if from_cents <= 0 or to_cents >= from_cents:
        return None
    drop_bps = (from_cents - to_cents) * 10_000 // from_cents
    if drop_bps < threshold_bps:
        return None
    return Finding(_score(50, (drop_bps - threshold_bps) * 50 / 1000),
                   f"成交价由 {yuan(from_cents)} 下调至 {yuan(to_cents)}，降幅 {percent_text(drop_bps)}"
                   f"（阈值 {percent_text(threshold_bps)}）")


def unit_rerecorded(elapsed: timedelta, within_days: int, unit: str) -> Finding | None:
    """A cancelled unit (退房) recorded again for another buyer this soon."""
    seconds = elapsed.total_seconds()
    if seconds < 0 or seconds > within_days * 86400:
        return None
    return Finding(_score(60, 40 * (1 - seconds / (within_days * 86400))),
                   f"房号 {unit} 退房后{_spaced(duration_text(seconds))}即为另一位客户重新认购（阈值 {within_days} 天）")


def buyer_objection(elapsed: timedelta, *, objection_id: int, gave_reason: bool) -> Finding:
    """客户否认报备: the buyer, told by SMS that he was registered, says he never asked to be
    (privacy.notices). Always a flag: operations call him back before anyone is blamed, so the
    score is moderate, a little higher when he says why. His own words stay on the objection
    (erased with him), never copied into the flag."""
    after = duration_text(max(elapsed.total_seconds(), 0))
    text = f"客户收到报备短信后否认曾委托该顾问报备（报备后{_spaced(after)}提出"
    return Finding(70 if gave_reason else 60,
                   f"{text}，并填写了原因，见异议 #{objection_id}）" if gave_reason else f"{text}，未填写原因）")


# --- windows over many events --------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """A registration (``ref = ("r", id)``) or a refused attempt (``("a", id)``)."""
    at: datetime
    ref: tuple[str, int]
    consultant_id: int
    buyer_id: int | None = None
    code: str | None = None  # the refusal code of an attempt


@dataclass
class Episode:
    trigger: Event
    members: list[Event] = field(default_factory=list)
    peak: int = 0  # the most any one window of the episode holds


def count(events: list[Event]) -> int:
    return len(events)


def distinct_consultants(events: list[Event]) -> int:
    return len({e.consultant_id for e in events})


def episodes(events: Iterable[Event], window: timedelta, threshold: int,
             measure: Callable[[list[Event]], int] = count) -> list[Episode]:
    """Episodes (see the module docstring) in which one ``window`` holds ``measure`` ≥ ``threshold``."""
    ordered = sorted(events, key=lambda e: (e.at, e.ref))
    found: list[Episode] = []
    start = i = 0
    while i < len(ordered):
        event = ordered[i]
        while ordered[start].at < event.at - window:
            start += 1
        if measure(ordered[start:i + 1]) < threshold:
            i += 1
            continue
        end = i + 1
        while end < len(ordered) and ordered[end].at <= event.at + window:
            end += 1
        members = ordered[start:end]
        found.append(Episode(event, members, _peak(members, window, measure)))
        start = i = end
    return found


def _peak(members: list[Event], window: timedelta, measure) -> int:
    best = left = 0
    for k, event in enumerate(members):
        while members[left].at < event.at - window:
            left += 1
        best = max(best, measure(members[left:k + 1]))
    return best


def collision(consultants: int, threshold: int, days: int) -> Finding:
    """撞单: one buyer registered (or attempted) by this many consultants within the window."""
    return Finding(_score(60, 10 * (consultants - threshold)),
                   f"{window_text(days * 24 * 60)}内 {consultants} 位顾问报备或尝试报备同一客户（阈值 {threshold} 位）")


def velocity(events: int, threshold: int, minutes: int) -> Finding:
    """One consultant registering or attempting this many buyers within the window."""
    return Finding(_score(55, 45 * (events - threshold) / threshold),
                   f"{window_text(minutes)}内报备或尝试报备 {events} 次（阈值 {threshold} 次）")


def fishing(refusals: int, threshold: int, days: int) -> Finding:
    """A consultant whose attempts keep hitting the developer's existing customers."""
    return Finding(_score(60, 10 * (refusals - threshold)),
                   f"{window_text(days * 24 * 60)}内 {refusals} 次报备案场老客户被拒（阈值 {threshold} 次），"
                   f"疑似试探开发商已有客户")


def episode_evidence(episode: Episode, *, window: dict, threshold: int) -> dict:
    """What a flag over an episode keeps: its counts, times and (capped) ids."""
    registrations = sorted(e.ref[1] for e in episode.members if e.ref[0] == "r")
    attempts = sorted(e.ref[1] for e in episode.members if e.ref[0] == "a")
    codes: dict[str, int] = {}
    for e in episode.members:
        if e.code:
            codes[e.code] = codes.get(e.code, 0) + 1
    evidence = {**window, "threshold": threshold, "peak": episode.peak, "events": len(episode.members),
                "first_at": episode.members[0].at.isoformat(), "last_at": episode.members[-1].at.isoformat(),
                "trigger": f"{episode.trigger.ref[0]}{episode.trigger.ref[1]}",
                "consultant_ids": sorted({e.consultant_id for e in episode.members}),
                "registration_ids": registrations[:EVIDENCE_IDS_MAX], "attempt_ids": attempts[:EVIDENCE_IDS_MAX],
                "attempt_codes": codes}
    if len(registrations) > EVIDENCE_IDS_MAX or len(attempts) > EVIDENCE_IDS_MAX:
        evidence["ids_truncated"] = True
    return evidence


# --- the attempt log's buyer key -------------------------------------------------------------------------

def phone_hash(phone_e164: str, key: str) -> str:
    """A keyed hash of a normalised phone: equal for one buyer, unreadable without the key."""
    return hmac.new(key.encode(), f"buyer-phone:{phone_e164}".encode(), hashlib.sha256).hexdigest()
