"""Protection windows per project mode (DESIGN §2): pure functions of values."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


MODES = ("report_visit_deal", "report_deal", "visit_deal")


@dataclass(frozen=True)
class Protection:
    binding: bool
    protected_until: datetime


def on_registration(mode: str, now: datetime, *, visit_window_hours: int, deal_window_hours: int) -> Protection:
    """What a new registration holds.

    report_visit_deal: binds now; the buyer must visit within the visit window.
    report_deal: binds now for the deal window.
    visit_deal (到访为王): binds nothing until a visit is confirmed; the registration
    itself lapses after the visit window.
    """
    if mode == "report_visit_deal":
        return Protection(True, now + timedelta(hours=visit_window_hours))
    if mode == "report_deal":
        return Protection(True, now + timedelta(hours=deal_window_hours))
    if mode == "visit_deal":
        return Protection(False, now + timedelta(hours=visit_window_hours))
    raise ValueError(f"unknown protection mode {mode!r}")


def on_visit_confirmed(mode: str, current_until: datetime, confirmed_at: datetime, *,
                       deal_window_hours: int) -> Protection:
    """A confirmed visit binds the buyer in every mode and starts the deal window;
    it never shortens protection already held (report → deal)."""
    if mode not in MODES:
        raise ValueError(f"unknown protection mode {mode!r}")
    return Protection(True, max(current_until, confirmed_at + timedelta(hours=deal_window_hours)))
