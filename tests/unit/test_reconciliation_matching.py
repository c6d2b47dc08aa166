"""The pure matching rules of reconciliation (DESIGN §4, §5a): names, units, protection on
the sale date, and each category decided from plain facts."""
from __future__ import annotations

from datetime import date

import pytest

from estate_platform.reconciliation import MaskedPhone, ReadRow
from estate_platform.reconciliation.matching import BuyerFacts, DealFacts, ProjectFacts, RegistrationFacts, \
    names_fit, unit_key

TODAY = date(2026, 12, 2)
SOLD = date(2026, 11, 20)


def row(phones=(), masked=(), name="王芳", unit="7-0701", price=320_500_000, sold=SOLD, channel="direct",
        agency=None, project=None, line=5):
    return ReadRow(line, tuple(phones), tuple(masked), name, unit, price, sold, channel, agency, project)


def facts(*, registrations=(), deals=(), buyers=None, masked=None):
    buyers = buyers or [BuyerFacts(1, "+8613912340004", ("王女士",)), BuyerFacts(2, "+8613566665555", ("钱先生",)),
                        BuyerFacts(3, "+8613577775555", ("钱女士",))]
    masked = masked if masked is not None else {("first3_last4", "135", "5555"): [2, 3],
                                                ("first3_last4", "139", "0004"): [1]}
    return ProjectFacts(project_name="金陵府", buyers=buyers, registrations=registrations, deals=deals,
                        masked_candidates=masked)


PROTECTED = RegistrationFacts(10, 1, 100, date(2026, 11, 1), date(2026, 12, 1), "reported")


@pytest.mark.parametrize("listed, registered, fits", [
    ("王芳", "王芳", True), ("王 芳", "王芳", True), ("王芳", "王女士", True), ("王先生", "王建国", True),
    ("王芳", "汪女士", False), ("王芳", "王丽", False), ("王先生", "王女士", False), ("", "王芳", False),
    ("欧阳娜娜", "欧阳女士", True), ("Ｔｏｍ", "tom", True),
])
def test_a_listed_name_fits_a_registered_one_when_equal_or_surname_and_title(listed, registered, fits):
    assert names_fit(listed, registered) is fits


@pytest.mark.parametrize("a, b", [("3-1201", "3栋1201室"), ("３－１２０１", "3-1201"), ("A座 12-01", "a-12-01"),
                                  ("3幢1单元1201", "3-1-1201")])
def test_units_written_differently_are_one_unit(a, b):
    assert unit_key(a) == unit_key(b)


def test_protection_covers_the_days_from_binding_to_its_last_day_only():
    assert PROTECTED.protected_on(date(2026, 11, 1)) and PROTECTED.protected_on(date(2026, 12, 1))
    assert not PROTECTED.protected_on(date(2026, 10, 31)) and not PROTECTED.protected_on(date(2026, 12, 2))
    never_bound = RegistrationFacts(11, 1, 100, None, date(2026, 12, 1), "reported")
    assert not never_bound.protected_on(SOLD)


@pytest.mark.parametrize("channel, agency, category", [("direct", None, "jumped"), ("agency", "链家", "poached")])
def test_a_protected_buyer_sold_without_a_platform_deal_is_jumped_or_poached_by_channel(channel, agency, category):
    verdict = facts(registrations=[PROTECTED]).classify(row(phones=["+8613912340004"], channel=channel,
                                                            agency=agency), today=TODAY)
    assert (verdict.category, verdict.registration_id, verdict.consultant_id) == (category, 10, 100)


def test_a_platform_deal_makes_the_row_ok_or_a_price_or_unit_mismatch():
    deal = DealFacts(50, 1, 10, "7-0701", 320_500_000)
    known = facts(registrations=[PROTECTED], deals=[deal])
    assert known.classify(row(phones=["+8613912340004"]), today=TODAY).category == "ok"
    assert known.classify(row(phones=["+8613912340004"], price=330_000_000), today=TODAY).category == "price_mismatch"
    unit = known.classify(row(phones=["+8613912340004"], unit="7-0702", price=1), today=TODAY)
    assert unit.category == "unit_mismatch" and "成交价" in unit.reason  # both shown, the unit decides
    assert known.classify(row(phones=["+8613912340004"], unit=None, price=None), today=TODAY).category == "ok"


def test_masked_phones_need_exactly_one_registered_buyer_whose_name_fits():
    known = facts()
    one = known.classify(row(masked=[MaskedPhone("first3_last4", "135", "5555")], name="钱先生"), today=TODAY)
    two = known.classify(row(masked=[MaskedPhone("first3_last4", "135", "5555")], name="钱多多"), today=TODAY)
    none = known.classify(row(masked=[MaskedPhone("first3_last4", "135", "5555")], name="孙七"), today=TODAY)
    assert (one.match_kind, one.buyer_id) == ("masked", 2)
    assert (two.category, two.match_kind) == ("ambiguous", "ambiguous")
    assert (none.category, none.match_kind) == ("unmatched", "none")


def test_a_sale_date_outside_protection_a_future_date_or_another_project_is_not_a_jump():
    known = facts(registrations=[PROTECTED])
    late = known.classify(row(phones=["+8613912340004"], sold=date(2026, 12, 2)), today=TODAY)
    future = known.classify(row(phones=["+8613912340004"], sold=date(2026, 12, 3)), today=TODAY)
    other = known.classify(row(phones=["+8613912340004"], project="云栖府"), today=TODAY)
    same = known.classify(row(phones=["+8613912340004"], project="金陵府二期"), today=TODAY)
    undated = known.classify(row(phones=["+8613912340004"], sold=None), today=TODAY)
    assert late.category == "unmatched" and "保护期" in late.reason
    assert future.category == "unreadable"
    assert other.category == "unmatched" and "不是本楼盘" in other.reason
    assert same.category == "jumped"
    assert undated.category == "unmatched" and "签约日期" in undated.reason


def test_an_unknown_phone_is_unmatched():
    verdict = facts().classify(row(phones=["+8613800000000"]), today=TODAY)
    assert (verdict.category, verdict.match_kind, verdict.buyer_id) == ("unmatched", "none", None)
