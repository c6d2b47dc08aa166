"""What happens to a bought receivable afterwards (DESIGN §5, issue 13 §1).

* ``on_collected``: the developer paid part or all of a bought deal's receivable (called by the
  collections path when money is applied to the deal). In proportion to what the deal has been
  paid so far, the consultant's remainder becomes available (尾款) and the deferred discount
  becomes platform revenue (折价收入确认). One transaction per call; ``ref`` (the allocation's id)
  makes a replay post nothing.
* ``on_uncollected``: a payment applied to a bought deal was undone (撤销回款). What
  ``on_collected`` released beyond what the deal is now paid goes back: the remainder returns to
  awaiting the developer (taken from his available money, and what he was already paid out
  becomes money he owes, netted from later earnings like recourse) and the realised discount
  returns to deferred. Idempotent by ``ref`` and by the lines' own state.
* ``recourse_legs``: a bought deal is cancelled (追索). The deal's reversal takes the line back
  from what is left of the remainder and the deferred discount, takes back the realised
  discount, and what the consultant already received (the advance and any remainder paid)
  becomes money he owes, netted from later earnings.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import among
from ..deals.models import Deal
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from .models import BuybackLine
from .pricing import collected_share

BOUGHT = ("purchased", "collected")


def bought_lines(session: Session, commission_line_ids) -> dict[int, BuybackLine]:
    """The bought (platform-owned) ones among these commission lines, by commission line id."""
    ids = sorted(set(commission_line_ids))
    if not ids:
        return {}
    return {line.commission_line_id: line for line in session.scalars(select(BuybackLine).where(
        among(session, BuybackLine.commission_line_id, ids), BuybackLine.status.in_(BOUGHT)))}


def on_collected(session: Session, deal_id: int, applied_cents: int, now: datetime, *,
                 ref: str | int | None = None) -> int:
    """Pay out the remainder and realise the discount of a bought deal's lines in proportion to the
    deal's receivable paid so far. Returns the remainder released now (cents)."""
    if applied_cents <= 0:
        return 0
    lines = list(session.scalars(select(BuybackLine).where(BuybackLine.deal_id == deal_id,
                                                           BuybackLine.status == "purchased")
                                 .order_by(BuybackLine.id).with_for_update()))
    if not lines:
        return 0
    receivable = session.scalar(select(Deal.commission_cents).where(Deal.id == deal_id)) or 0
    if receivable <= 0:
        return 0
    legs, updates, released = [], [], 0
    paid_to = min(receivable, lines[0].deal_collected_cents + applied_cents)
    for line in lines:
        collected = collected_share(line.face_cents, paid_to, receivable)
        remainder = collected_share(line.remainder_cents, paid_to, receivable) - line.remainder_paid_cents
        discount = collected_share(line.discount_cents, paid_to, receivable) - line.discount_realised_cents
        legs += [Leg("consultant", line.consultant_id, "remainder", remainder, f"垫付 #{line.request_id}：开发商回款，尾款"),
                 Leg("consultant", line.consultant_id, "available", -remainder, f"垫付 #{line.request_id}：尾款可提现"),
                 Leg("platform", 0, "purchased", discount, f"垫付 #{line.request_id}：折价收入确认"),
                 Leg("platform", 0, "revenue", -discount, f"垫付 #{line.request_id}：折价收入")]
        updates.append((line, collected, remainder, discount))
        released += remainder
    legs = tuple(leg for leg in legs if leg.amount_cents)
    key = f"buyback:deal:{deal_id}:collected:{ref}" if ref is not None else \
        f"buyback:deal:{deal_id}:collected-to:{paid_to}"
    if legs:
        _, posted = ledger.post(session, Entry(
            idempotency_key=key, kind="buyback_collected", deal_id=deal_id, legs=legs,
            description=f"成交 #{deal_id} 开发商回款 {yuan(applied_cents)}：已购应收尾款 {yuan(released)}"),
            now=now)
        if not posted:
            return 0
    for line, collected, remainder, discount in updates:
        line.collected_cents, line.deal_collected_cents = collected, paid_to
        line.remainder_paid_cents += remainder
        line.discount_realised_cents += discount
        if paid_to >= receivable:
            line.status = "collected"
        line.updated_at = now
    return released


def on_uncollected(session: Session, deal_id: int, paid_to: int, now: datetime, *, ref: str) -> int:
    """Undo what the deal's lines released beyond ``paid_to`` (the deal's receivable paid now).
    Returns the remainder taken back (cents)."""
    lines = list(session.scalars(select(BuybackLine).where(BuybackLine.deal_id == deal_id,
                                                           BuybackLine.status.in_(BOUGHT),
                                                           BuybackLine.deal_collected_cents > max(paid_to, 0))
                                 .order_by(BuybackLine.id).with_for_update()))
    receivable = session.scalar(select(Deal.commission_cents).where(Deal.id == deal_id)) or 0
    if not lines or receivable <= 0:
        return 0
    paid_to = max(0, min(paid_to, receivable))
    legs: list[Leg] = []
    updates, taken_total = [], 0
    available_left: dict[int, int] = {}
    for line in lines:
        c = line.consultant_id
        collected = collected_share(line.face_cents, paid_to, receivable)
        taken = line.remainder_paid_cents - collected_share(line.remainder_cents, paid_to, receivable)
        discount = line.discount_realised_cents - collected_share(line.discount_cents, paid_to, receivable)
        if c not in available_left:
            available_left[c] = max(0, -ledger.balances(session, "consultant", c)["available"])
        from_available = min(max(taken, 0), available_left[c])
        available_left[c] -= from_available
        legs += [Leg("consultant", c, "remainder", -taken, f"垫付 #{line.request_id}：回款撤销，尾款转回待回款"),
                 Leg("consultant", c, "available", from_available, f"垫付 #{line.request_id}：回款撤销，尾款收回"),
                 Leg("consultant", c, "owes", taken - from_available,
                     f"垫付 #{line.request_id}：回款撤销，已提现尾款形成欠款，从以后的佣金中抵扣"),
                 Leg("platform", 0, "purchased", -discount, f"垫付 #{line.request_id}：回款撤销，折价收入转回递延"),
                 Leg("platform", 0, "revenue", discount, f"垫付 #{line.request_id}：回款撤销，折价收入冲回")]
        updates.append((line, collected, taken, discount))
        taken_total += taken
    legs = [leg for leg in legs if leg.amount_cents]
    if legs:
        _, posted = ledger.post(session, Entry(
            idempotency_key=f"buyback:deal:{deal_id}:uncollected:{ref}", kind="buyback_uncollected", deal_id=deal_id,
            legs=tuple(legs), description=f"成交 #{deal_id} 回款撤销：已购应收尾款收回 {yuan(taken_total)}"), now=now)
        if not posted:
            return 0
    for line, collected, taken, discount in updates:
        line.collected_cents, line.deal_collected_cents = collected, paid_to
        line.remainder_paid_cents -= taken
        line.discount_realised_cents -= discount
        line.status, line.updated_at = "purchased", now
    return taken_total


def recourse_legs(line: BuybackLine, *, now: datetime) -> list[Leg]:
    """Reversal legs for a bought line (they sum to its face, as the line's own reversal must),
    and the line marked as under recourse."""
    c = line.consultant_id
    legs = [Leg("consultant", c, "remainder", line.remainder_cents - line.remainder_paid_cents, "退房：未付尾款冲回"),
            Leg("platform", 0, "purchased", line.discount_cents - line.discount_realised_cents, "退房：未确认折价冲回"),
            Leg("platform", 0, "revenue", line.discount_realised_cents, "退房：已确认折价收入冲回"),
            Leg("consultant", c, "owes", line.advance_cents + line.remainder_paid_cents,
                f"垫付 #{line.request_id} 成交退房：已垫付款转为欠款（追索），从以后的佣金中抵扣")]
    line.status, line.updated_at = "recourse", now
    return [leg for leg in legs if leg.amount_cents]
