"""Matching one sales-list row to the platform's buyers, registrations and deals, and
deciding its category (DESIGN §4, §5a). Pure: the facts come in as plain values
(``services`` loads them in bulk), so every rule here is tested without a database.

Who the row's buyer is:

* an exact phone (any of the cell's numbers) names the buyer outright;
* a masked phone (138****5678, 1381****678) names the buyers registered for the project
  whose number has that prefix and suffix; the listed name must then fit exactly one of
  them. None fitting is no match; two or more is ``ambiguous``, listed for a person.

What happened, for a matched buyer:

* ``ok``: the platform has a live deal for him; ``unit_mismatch`` / ``price_mismatch``
  when that deal's unit or price differs from the list (shown, no dispute by itself);
* ``jumped`` (跑单): no platform deal, and a binding registration protected him on the
  sale date, and the list says nobody brought him (自然到访, 自访, 案场, blank);
* ``poached`` (撬单): the same, but sold through another agency;
* ``unmatched``: nobody on the platform protected him then (or no buyer matched).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Iterable

from ..money import yuan
from .phone_cells import MaskedPhone
from .reading import ReadRow

HONORIFICS = ("先生", "女士", "小姐", "太太", "夫人", "老师", "总")
_DASHES = str.maketrans({"－": "-", "—": "-", "–": "-", "_": "-", "~": "-", "#": "-"})
_UNIT_WORDS = re.compile(r"[栋幢座号楼单元室]")


@lru_cache(maxsize=16_384)
def name_key(text: str | None) -> str:
    """Names compared: NFKC, no whitespace or dots (``张 三``, ``张·三``), lower case."""
    folded = unicodedata.normalize("NFKC", text or "")
    return "".join(c for c in folded if not c.isspace() and c not in ".·•").lower()


def _surname_of_title(key: str) -> str | None:
    """``张先生`` → ``张``: what consultants type when they register a buyer by title."""
    for word in HONORIFICS:
        if key.endswith(word) and 1 <= len(key) - len(word) <= 2:
            return key[:-len(word)]
    return None


def names_fit(listed: str | None, registered: str | None) -> bool:
    """The list's name and a registered name are the same person's: equal, or one is a
    surname with a title (张先生) and the other starts with that surname (张三)."""
    a, b = name_key(listed), name_key(registered)
    if not a or not b:
        return False
    if a == b:
        return True
    for title, full in ((a, b), (b, a)):
        surname = _surname_of_title(title)
        if surname and full.startswith(surname) and _surname_of_title(full) is None:
            return True
    return False


@lru_cache(maxsize=16_384)
def unit_key(text: str | None) -> str:
    """Units compared: ``3栋1201室``, ``3-1201`` and ``３－１２０１`` are one unit; the words
    栋/幢/座/号楼/单元/室 count as separators."""
    folded = unicodedata.normalize("NFKC", text or "").translate(_DASHES).lower()
    folded = _UNIT_WORDS.sub("-", "".join(folded.split()))
    return "-".join(part for part in folded.split("-") if part)


# --- facts loaded per project ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BuyerFacts:
    id: int
    phone: str  # E.164
    names: tuple[str, ...]  # the buyer's own name and the names his registrations give


@dataclass(frozen=True, slots=True)
class RegistrationFacts:
    """A registration of the project, as far as protection goes. ``protected_from`` is the
    day it began to bind (the registration day; in 到访为王 the first confirmed visit, or
    None when it never bound); ``last_day`` the last protected day (its protection end,
    or the day it ended early)."""
    id: int
    buyer_id: int
    consultant_id: int
    protected_from: date | None
    last_day: date
    status: str

    def protected_on(self, day: date) -> bool:
        return self.protected_from is not None and self.protected_from <= day <= self.last_day


@dataclass(frozen=True, slots=True)
class DealFacts:
    id: int
    buyer_id: int
    registration_id: int
    unit: str
    price_cents: int


@dataclass(frozen=True)
class Verdict:
    category: str
    match_kind: str
    reason: str
    buyer_id: int | None = None
    registration_id: int | None = None
    deal_id: int | None = None
    consultant_id: int | None = None  # the protected consultant (跑单/撬单)


def masked_keys(masked: MaskedPhone) -> tuple[str, str, str]:
    return masked.rule, masked.prefix, masked.suffix


def key_of_phone(phone_e164: str, rule: str) -> tuple[str, str, str]:
    number = phone_e164[3:] if phone_e164.startswith("+86") else phone_e164
    if rule == "first3_last4":
        return rule, number[:3], number[-4:]
    return rule, number[:4], number[-3:]


class ProjectFacts:
    """Everything one upload's rows are matched against: the candidate buyers (by whole
    phone and by masked key), their registrations and live deals in the project."""

    def __init__(self, *, project_name: str, buyers: Iterable[BuyerFacts], registrations: Iterable[RegistrationFacts],
                 deals: Iterable[DealFacts], masked_candidates: dict[tuple[str, str, str], list[int]]):
        self.project_name = project_name
        self.buyers = {b.id: b for b in buyers}
        self.by_phone = {b.phone: b.id for b in self.buyers.values()}
        self.registrations: dict[int, list[RegistrationFacts]] = {}
        for registration in registrations:
            self.registrations.setdefault(registration.buyer_id, []).append(registration)
        self.deals: dict[int, list[DealFacts]] = {}
        for deal in deals:
            self.deals.setdefault(deal.buyer_id, []).append(deal)
        self.masked_candidates = masked_candidates

    # -- who --------------------------------------------------------------------------------------

    def _fits(self, buyer_id: int, name: str | None) -> bool:
        return any(names_fit(name, known) for known in self.buyers[buyer_id].names)

    def candidates(self, row: ReadRow) -> tuple[str, list[int], str]:
        """(match kind, buyer ids, why) for the row's phones."""
        exact = [self.by_phone[p] for p in row.phones if p in self.by_phone]
        if exact:
            return "exact", list(dict.fromkeys(exact)), ""
        if not row.masked:
            return "none", [], "平台上没有这个号码的客户"
        possible = list(dict.fromkeys(b for m in row.masked for b in self.masked_candidates.get(masked_keys(m), ())))
        if not possible:
            return "none", [], "本楼盘报备的客户中没有与打码号码相符的"
        if not row.buyer_name:
            return "ambiguous" if len(possible) > 1 else "none", [], \
                f"打码号码有 {len(possible)} 位候选客户，但台账没有姓名，无法确认"
        fitting = [b for b in possible if self._fits(b, row.buyer_name)]
        if len(fitting) == 1:
            return "masked", fitting, ""
        if not fitting:
            return "none", [], f"打码号码有 {len(possible)} 位候选客户，姓名都不相符"
        return "ambiguous", [], f"打码号码和姓名有 {len(fitting)} 位候选客户相符，无法确定是哪一位"

    # -- what -------------------------------------------------------------------------------------

    def _live_deal(self, buyer_ids: list[int], row: ReadRow) -> DealFacts | None:
        deals = [d for b in buyer_ids for d in self.deals.get(b, ())]
        if not deals:
            return None
        wanted = unit_key(row.unit)
        return next((d for d in deals if wanted and unit_key(d.unit) == wanted), deals[0])

    def _protecting(self, buyer_ids: list[int], day: date) -> RegistrationFacts | None:
        found = [r for b in buyer_ids for r in self.registrations.get(b, ()) if r.protected_on(day)]
        return max(found, key=lambda r: (r.protected_from, r.id)) if found else None

    def project_differs(self, row: ReadRow) -> bool:
        """A row naming another project (a developer's list of several) is not ours to judge."""
        if not row.project:
            return False
        listed, ours = name_key(row.project), name_key(self.project_name)
        return not (listed in ours or ours in listed)

    def classify(self, row: ReadRow, *, today: date) -> Verdict:
        if row.sale_date is not None and row.sale_date > today:
            return Verdict("unreadable", "none", f"签约日期 {row.sale_date.isoformat()} 晚于今天")
        if self.project_differs(row):
            return Verdict("unmatched", "none", f"台账项目「{row.project}」不是本楼盘（{self.project_name}），未核对")
        kind, buyer_ids, why = self.candidates(row)
        if kind == "ambiguous":
            return Verdict("ambiguous", "ambiguous", why)
        if not buyer_ids:
            return Verdict("unmatched", "none", why)
        deal = self._live_deal(buyer_ids, row)
        if deal is not None:
            return self._against_deal(kind, deal, row)
        if row.sale_date is None:
            return Verdict("unmatched", kind, "台账没有签约日期，无法判断成交时是否在报备保护期内", buyer_id=buyer_ids[0])
        registration = self._protecting(buyer_ids, row.sale_date)
        if registration is None:
            registered = [r for b in buyer_ids for r in self.registrations.get(b, ())]
            why = ("客户在本楼盘有报备，但签约日不在任何有效报备的保护期内" if registered
                   else "客户在本楼盘没有报备")
            return Verdict("unmatched", kind, why, buyer_id=buyer_ids[0])
        until = registration.last_day.isoformat()
        since = registration.protected_from.isoformat()
        if row.channel == "direct":
            reason = f"报备 #{registration.id} 保护期 {since} 至 {until} 内由开发商直接成交（{row.sale_date.isoformat()}），平台无成交记录"
            category = "jumped"
        else:
            reason = (f"报备 #{registration.id} 保护期 {since} 至 {until} 内经「{row.agency}」成交"
                      f"（{row.sale_date.isoformat()}），平台无成交记录")
            category = "poached"
        return Verdict(category, kind, reason, buyer_id=registration.buyer_id, registration_id=registration.id,
                       consultant_id=registration.consultant_id)

    def _against_deal(self, kind: str, deal: DealFacts, row: ReadRow) -> Verdict:
        problems = []
        unit_differs = bool(row.unit) and unit_key(row.unit) != unit_key(deal.unit)
        if unit_differs:
            problems.append(f"房号：台账 {row.unit}，平台成交 {deal.unit}")
        price_differs = row.price_cents is not None and row.price_cents != deal.price_cents
        if price_differs:
            problems.append(f"成交价：台账 {yuan(row.price_cents)}，平台成交 {yuan(deal.price_cents)}")
        category = "unit_mismatch" if unit_differs else "price_mismatch" if price_differs else "ok"
        reason = "；".join(problems) if problems else f"与平台成交 #{deal.id} 一致"
        return Verdict(category, kind, reason, buyer_id=deal.buyer_id, registration_id=deal.registration_id,
                       deal_id=deal.id)
