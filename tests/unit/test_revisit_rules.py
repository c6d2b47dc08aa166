"""The pure revisit rules: due dates, the next Shanghai day for an unreachable buyer, the
retry count, deal sampling and which answers contradict the platform's records."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.clock import SHANGHAI, local_date
from estate_platform.revisits import rules

KEY = b"test-key"


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.mark.parametrize("called_at, retry_at", [
    (shanghai(2026, 3, 1, 0, 0), shanghai(2026, 3, 2, 0, 0)),
    (shanghai(2026, 3, 1, 9, 30), shanghai(2026, 3, 2, 0, 0)),
    (shanghai(2026, 3, 1, 23, 59, 59), shanghai(2026, 3, 2, 0, 0)),
    (shanghai(2026, 2, 28, 12, 0), shanghai(2026, 3, 1, 0, 0)),
    (shanghai(2026, 12, 31, 20, 0), shanghai(2027, 1, 1, 0, 0)),
])
def test_an_unreachable_buyer_is_tried_again_from_the_start_of_the_next_shanghai_day(called_at, retry_at):
    assert rules.next_try(called_at) == retry_at


def test_the_next_day_is_the_shanghai_day_even_when_it_is_still_yesterday_in_utc():
    # 07:00 in Shanghai is 23:00 UTC the day before; the retry is the next Shanghai midnight.
    called_at = shanghai(2026, 3, 1, 7, 0)
    assert called_at.date() == date(2026, 2, 28)
    assert rules.next_try(called_at) == shanghai(2026, 3, 2, 0, 0)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_a_retry_is_never_the_same_shanghai_day_and_never_later_than_the_next(instant):
    retry = rules.next_try(instant)
    assert local_date(retry) == local_date(instant) + timedelta(days=1)
    assert retry.astimezone(SHANGHAI).time().isoformat() == "00:00:00"
    assert retry > instant


def test_the_first_call_and_three_retries_are_made_before_an_unreachable_task_closes():
    attempts, closed, calls = 0, False, 0
    while not closed:
        attempts, closed = rules.after_unreachable(attempts, 3)
        calls += 1
    assert (calls, attempts) == (4, 4)
    assert rules.after_unreachable(2, 3) == (3, False)  # the third retry is still made
    assert rules.after_unreachable(0, 0) == (1, True)   # no retries: the first unreachable call closes it


def test_due_dates_of_each_kind():
    until = shanghai(2026, 5, 20, 10, 0)
    assert rules.due_before_expiry(until, 7) == shanghai(2026, 5, 13, 10, 0)
    assert rules.due_after_expiry(until, 14) == shanghai(2026, 6, 3, 10, 0)
    assert rules.due_after_visit(shanghai(2026, 5, 1, 22, 0)) == shanghai(2026, 5, 2, 0, 0)
    assert rules.due_deal_sample(shanghai(2026, 5, 1, 0, 30)) == shanghai(2026, 5, 2, 0, 0)


@given(st.integers(min_value=1, max_value=2**31 - 1), st.integers(min_value=0, max_value=10_000))
def test_deal_sampling_is_a_stable_function_of_the_deal_and_the_rate(deal_id, rate):
    assert rules.sampled(deal_id, rate, KEY) == rules.sampled(deal_id, rate, KEY)
    assert rules.sampled(deal_id, rate, KEY) == (rules.sample_point(deal_id, KEY) < rate)
    assert not rules.sampled(deal_id, 0, KEY) and rules.sampled(deal_id, 10_000, KEY)


def test_a_higher_rate_samples_every_deal_a_lower_rate_did():
    low = {d for d in range(1, 2001) if rules.sampled(d, 1000, KEY)}
    high = {d for d in range(1, 2001) if rules.sampled(d, 3000, KEY)}
    assert low <= high


def test_the_sample_is_close_to_the_rate_and_depends_on_the_key():
    deals = range(1, 10_001)
    picked = [d for d in deals if rules.sampled(d, 2000, KEY)]
    assert 1800 <= len(picked) <= 2200  # 20% of 10,000 deals, give or take
    other = [d for d in deals if rules.sampled(d, 2000, b"another-key")]
    assert picked != other  # without the key nobody can tell which deals will be checked


# --- contradictions ------------------------------------------------------------------------------------

PROTECTED = rules.Record(has_confirmed_visit=True, has_live_deal=False, protected_from=date(2026, 3, 1),
                         protected_until=date(2026, 5, 30))


def test_denying_a_confirmed_visit_or_the_consultants_deal_is_a_fake_visit_by_him():
    finding = rules.contradiction(PROTECTED, "denied_visit", None)
    assert finding == rules.Finding("fake_visit", "consultant") and finding.label == "虚假带看"
    no_visit = rules.Record(False, False, date(2026, 3, 1), date(2026, 5, 30))
    assert rules.contradiction(no_visit, "denied_visit", None) is None
    credited_deal = rules.Record(False, True, date(2026, 3, 1), date(2026, 5, 30), served_deal=True)
    assert rules.contradiction(credited_deal, "denied_visit", None) == rules.Finding("fake_visit", "consultant")


@pytest.mark.parametrize("outcome, kind", [("bought_direct", "jumped"), ("bought_other_agent", "poached")])
def test_buying_without_the_platform_while_protected_is_the_developers_doing(outcome, kind):
    for day in (date(2026, 3, 1), date(2026, 4, 15), date(2026, 5, 30)):
        assert rules.contradiction(PROTECTED, outcome, day) == rules.Finding(kind, "developer")


@pytest.mark.parametrize("outcome", rules.BOUGHT)
def test_buying_outside_protection_or_with_a_platform_deal_contradicts_nothing(outcome):
    assert rules.contradiction(PROTECTED, outcome, date(2026, 2, 28)) is None   # before registering
    assert rules.contradiction(PROTECTED, outcome, date(2026, 5, 31)) is None   # after protection ended
    with_deal = rules.Record(True, True, date(2026, 3, 1), date(2026, 5, 30))
    assert rules.contradiction(with_deal, outcome, date(2026, 4, 1)) is None
    never_bound = rules.Record(False, False, None, None)  # 到访为王 without a visit
    assert rules.contradiction(never_bound, outcome, date(2026, 4, 1)) is None


@pytest.mark.parametrize("outcome", ("confirmed", "unreachable", "do_not_contact"))
def test_the_other_answers_contradict_nothing(outcome):
    assert rules.contradiction(PROTECTED, outcome, date(2026, 4, 1)) is None


def test_only_a_call_after_protection_ended_needs_the_day_of_the_sale():
    assert rules.needs_bought_on("after_expiry", "bought_direct")
    assert rules.needs_bought_on("after_expiry", "bought_other_agent")
    assert not rules.needs_bought_on("after_expiry", "confirmed")
    assert not rules.needs_bought_on("before_expiry", "bought_direct")


def test_protection_runs_from_registering_or_from_the_first_visit_in_the_visit_first_mode():
    created, visited = shanghai(2026, 3, 1, 23, 30), shanghai(2026, 3, 5, 10, 0)
    until = shanghai(2026, 6, 3, 10, 0)
    assert rules.protection_days(created, "report_visit_deal", None, until, None, "reported") == \
        (date(2026, 3, 1), date(2026, 6, 3))
    assert rules.protection_days(created, "visit_deal", visited, until, None, "visited") == \
        (date(2026, 3, 5), date(2026, 6, 3))
    assert rules.protection_days(created, "visit_deal", None, until, None, "expired") == (None, None)
    lost_at = shanghai(2026, 4, 1, 9, 0)
    assert rules.protection_days(created, "report_deal", None, until, lost_at, "lost") == \
        (date(2026, 3, 1), date(2026, 4, 1))
    assert rules.protection_days(created, "report_deal", None, until, until + timedelta(minutes=4), "expired") == \
        (date(2026, 3, 1), date(2026, 6, 3))


def test_settings_refuse_a_sample_rate_beyond_everything_and_read_the_configuration():
    with pytest.raises(ValueError):
        rules.Settings(deal_sample_bps=10_001)
    with pytest.raises(ValueError):
        rules.Settings(claim_minutes=0)
    settings = rules.Settings.from_config({"REVISIT_BEFORE_EXPIRY_DAYS": 5, "REVISIT_DEAL_SAMPLE_BPS": 10_000})
    assert (settings.before_expiry_days, settings.after_expiry_days, settings.deal_sample_bps,
            settings.claim_minutes, settings.max_unreachable) == (5, 14, 10_000, 30, 3)


def test_the_app_refuses_to_start_with_a_sample_rate_beyond_everything():
    from estate_platform.config import ConfigError, load_config
    assert load_config({})["REVISIT_DEAL_SAMPLE_BPS"] == 2000
    with pytest.raises(ConfigError, match="deal_sample_bps"):
        load_config({"REVISIT_DEAL_SAMPLE_BPS": "20000"})
    with pytest.raises(ConfigError, match="REVISIT_CLAIM_MINUTES must be an integer"):
        load_config({"REVISIT_CLAIM_MINUTES": "half an hour"})
