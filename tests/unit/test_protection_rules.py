"""Protection windows per project mode (DESIGN §2), as pure rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.registrations import rules

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(timezone.utc))
hours = st.integers(min_value=1, max_value=24 * 365)


@given(instants, hours, hours)
def test_report_modes_bind_at_once_and_visit_deal_does_not(now, visit_h, deal_h):
    rvd = rules.on_registration("report_visit_deal", now, visit_window_hours=visit_h, deal_window_hours=deal_h)
    rd = rules.on_registration("report_deal", now, visit_window_hours=visit_h, deal_window_hours=deal_h)
    vd = rules.on_registration("visit_deal", now, visit_window_hours=visit_h, deal_window_hours=deal_h)
    assert (rvd.binding, rd.binding, vd.binding) == (True, True, False)
    assert rvd.protected_until == now + timedelta(hours=visit_h)
    assert rd.protected_until == now + timedelta(hours=deal_h)
    assert vd.protected_until == now + timedelta(hours=visit_h)


@given(st.sampled_from(rules.MODES), instants, st.integers(min_value=-5000, max_value=5000), hours)
def test_a_confirmed_visit_binds_and_never_shortens_protection(mode, confirmed_at, offset_h, deal_h):
    current = confirmed_at + timedelta(hours=offset_h)
    after = rules.on_visit_confirmed(mode, current, confirmed_at, deal_window_hours=deal_h)
    assert after.binding is True
    assert after.protected_until >= current
    assert after.protected_until >= confirmed_at + timedelta(hours=deal_h)


def test_unknown_modes_are_refused():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        rules.on_registration("first_come", now, visit_window_hours=1, deal_window_hours=1)
    with pytest.raises(ValueError):
        rules.on_visit_confirmed("first_come", now, now, deal_window_hours=1)
