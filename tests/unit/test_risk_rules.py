"""The risk jobs' rules (risk.rules): thresholds, scores, reasons and episodes, pure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.risk import rules

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def event(minutes: float, ref: int, consultant: int = 1, buyer: int | None = None, kind: str = "r") -> rules.Event:
    return rules.Event(T0 + timedelta(minutes=minutes), (kind, ref), consultant, buyer)


# --- single events ------------------------------------------------------------------------------------------

def test_a_visit_confirmed_minutes_after_registration_is_flagged_with_its_numbers():
    finding = rules.anti_interception(timedelta(minutes=3, seconds=20), 10)
    assert finding.reason == "登记后 3 分钟即确认到访（阈值 10 分钟）"
    assert 60 < finding.score <= 100


def test_a_visit_after_the_threshold_or_before_the_registration_is_not_flagged():
    assert rules.anti_interception(timedelta(minutes=10, seconds=1), 10) is None
    assert rules.anti_interception(timedelta(seconds=-1), 10) is None
    assert rules.anti_interception(timedelta(minutes=10), 10) is not None


def test_the_sooner_the_visit_the_higher_the_score():
    scores = [rules.anti_interception(timedelta(minutes=m), 10).score for m in (0, 2, 5, 9, 10)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 100 and scores[-1] == 60


def test_a_visit_within_a_minute_says_so():
    assert rules.anti_interception(timedelta(seconds=20), 10).reason == "登记后不到 1 分钟即确认到访（阈值 10 分钟）"


def test_a_deal_within_hours_of_registration_is_flagged():
    finding = rules.short_deal(timedelta(hours=5, minutes=20), 24)
    assert finding.reason == "登记后 5 小时 20 分钟内即认购（阈值 24 小时）"
    assert rules.short_deal(timedelta(hours=24, seconds=1), 24) is None


def test_a_price_cut_of_at_least_the_threshold_is_flagged_with_both_prices():
    finding = rules.price_drop(300_000_000, 270_000_000, 500)
    assert finding.reason == "成交价由 ¥3,000,000.00 下调至 ¥2,700,000.00，降幅 10%（阈值 5%）"
    assert finding.score == 75
    assert rules.price_drop(300_000_000, 290_000_000, 500) is None  # 3.33%
    assert rules.price_drop(300_000_000, 310_000_000, 500) is None  # upward
    assert rules.price_drop(300_000_000, 285_000_000, 500).score == 50  # exactly 5%


def test_percentages_show_only_the_digits_they_need():
    assert [rules.percent_text(b) for b in (500, 750, 1234, 5)] == ["5%", "7.5%", "12.34%", "0.05%"]


def test_a_unit_sold_again_soon_after_its_cancellation_is_flagged():
    finding = rules.unit_rerecorded(timedelta(hours=30), 7, "1-1-101")
    assert finding.reason == "房号 1-1-101 退房后 30 小时即为另一位客户重新认购（阈值 7 天）"
    assert rules.unit_rerecorded(timedelta(days=7, seconds=1), 7, "1-1-101") is None
    assert rules.unit_rerecorded(timedelta(days=4), 7, "1-1-101").reason.startswith("房号 1-1-101 退房后 4 天")


def test_window_texts_read_as_people_say_them():
    assert [rules.window_text(m) for m in (60, 90, 7 * 24 * 60, 120)] == ["1 小时", "90 分钟", "7 天", "2 小时"]


def test_pattern_reasons_carry_their_counts_and_thresholds():
    assert rules.collision(4, 3, 7).reason == "7 天内 4 位顾问报备或尝试报备同一客户（阈值 3 位）"
    assert rules.velocity(25, 20, 60).reason == "1 小时内报备或尝试报备 25 次（阈值 20 次）"
    assert rules.fishing(3, 3, 7).reason.startswith("7 天内 3 次报备案场老客户被拒（阈值 3 次）")
    assert rules.collision(3, 3, 7).score < rules.collision(5, 3, 7).score
    assert rules.velocity(40, 20, 60).score == 100


# --- episodes -------------------------------------------------------------------------------------------------

def test_a_window_that_reaches_the_threshold_starts_one_episode_named_by_that_event():
    events = [event(m, i) for i, m in enumerate((0, 10, 20, 30, 40), start=1)]
    [episode] = rules.episodes(events, timedelta(minutes=60), 3)
    assert episode.trigger.ref == ("r", 3)
    assert [e.ref[1] for e in episode.members] == [1, 2, 3, 4, 5] and episode.peak == 5


def test_events_spread_wider_than_the_window_make_no_episode():
    events = [event(m, i) for i, m in enumerate((0, 61, 122, 183), start=1)]
    assert rules.episodes(events, timedelta(minutes=60), 2) == []


def test_a_second_burst_after_the_episode_is_a_second_episode():
    first = [event(m, i) for i, m in enumerate((0, 1, 2))]
    second = [event(300 + m, 10 + i) for i, m in enumerate((0, 1, 2))]
    found = rules.episodes(second + first, timedelta(minutes=60), 3)
    assert [e.trigger.ref for e in found] == [("r", 2), ("r", 12)]


def test_distinct_consultants_count_each_consultant_once():
    events = [event(0, 1, consultant=1), event(5, 2, consultant=1), event(10, 3, consultant=2),
              event(20, 4, consultant=3, kind="a")]
    [episode] = rules.episodes(events, timedelta(days=7), 3, rules.distinct_consultants)
    assert episode.trigger.ref == ("a", 4) and episode.peak == 3
    assert rules.episodes(events[:3], timedelta(days=7), 3, rules.distinct_consultants) == []


@given(st.lists(st.integers(min_value=0, max_value=2000), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=120), st.integers(min_value=1, max_value=8))
def test_episodes_are_the_same_whatever_order_the_events_come_in(minutes, window, threshold):
    events = [event(m, i) for i, m in enumerate(minutes)]
    forward = rules.episodes(events, timedelta(minutes=window), threshold)
    backward = rules.episodes(list(reversed(events)), timedelta(minutes=window), threshold)
    assert [e.trigger for e in forward] == [e.trigger for e in backward]
    for found in forward:
        assert found.peak >= threshold
    members = [m.ref for found in forward for m in found.members]
    assert len(members) == len(set(members))  # an event belongs to one episode at most


@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=6))
def test_an_episode_starts_exactly_when_some_window_holds_the_threshold(minutes, window, threshold):
    events = [event(m, i) for i, m in enumerate(sorted(minutes))]
    any_window = any(sum(1 for other in minutes if m - window <= other <= m) >= threshold for m in minutes)
    assert bool(rules.episodes(events, timedelta(minutes=window), threshold)) == any_window


def test_evidence_keeps_counts_times_and_capped_ids():
    events = [event(i / 10, i) for i in range(120)]
    [episode] = rules.episodes(events, timedelta(minutes=60), 20)
    evidence = rules.episode_evidence(episode, window={"window_minutes": 60}, threshold=20)
    assert evidence["events"] == 120 and evidence["peak"] == 120 and evidence["threshold"] == 20
    assert len(evidence["registration_ids"]) == rules.EVIDENCE_IDS_MAX and evidence["ids_truncated"] is True
    assert evidence["trigger"] == "r19" and evidence["first_at"] == T0.isoformat()


# --- the attempt log's key ---------------------------------------------------------------------------------

def test_a_phone_hash_is_stable_keyed_and_not_the_number():
    one = rules.phone_hash("+8613900001111", "key-one")
    assert one == rules.phone_hash("+8613900001111", "key-one")
    assert one != rules.phone_hash("+8613900001111", "key-two")
    assert one != rules.phone_hash("+8613900001112", "key-one")
    assert "13900001111" not in one and len(one) == 64


@pytest.mark.parametrize("kind", rules.KIND_LABELS)
def test_every_kind_has_a_label_and_a_respondent(kind):
    assert rules.KIND_LABELS[kind] and rules.RESPONDENTS[kind] in ("consultant", "developer")
