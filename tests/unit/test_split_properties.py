"""Splitting a deal's commission into lines (DESIGN §3), checked against exact fractions.

The reference shares below are written from the design table, with Fractions:
platform fee C×fee; referrer and uplines (C − fee)×bps each; the serving consultant
what is left; an ineligible member's share joins the platform's; the buyer's reward
comes out of the platform's line.
"""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.commissions.split import (MAX_UPLINE_LEVELS, PLATFORM_ID, BuyerReferrer, Chain, Member, Policy,
                                               PolicyInvalid, policy_problems, split)

BPS = 10_000
SERVING_ID, REFERRER_ID, UPLINE_BASE_ID, BUYER_ID = 1, 2, 10, 500

commissions = st.integers(min_value=0, max_value=10**10)


@st.composite
def policies(draw):
    levels = draw(st.integers(min_value=0, max_value=MAX_UPLINE_LEVELS))
    fee = draw(st.integers(min_value=0, max_value=BPS))
    referral = draw(st.integers(min_value=0, max_value=BPS))
    upline = []
    for _ in range(levels):
        upline.append(draw(st.integers(min_value=0, max_value=BPS - referral - sum(upline))))
    return Policy(platform_fee_bps=fee, referral_bps=referral, upline_bps=tuple(upline), max_upline_levels=levels)


@st.composite
def chains(draw):
    serving = Member(SERVING_ID, "成交", eligible=draw(st.booleans()))
    referrer = draw(st.none() | st.builds(lambda e: Member(REFERRER_ID, "转介", eligible=e), st.booleans()))
    count = draw(st.integers(min_value=0, max_value=5))  # more than the cap of 2
    uplines = tuple(Member(UPLINE_BASE_ID + i, f"上级{i + 1}", eligible=draw(st.booleans())) for i in range(count))
    buyer = draw(st.none() | st.builds(lambda r: BuyerReferrer(BUYER_ID, "老业主", r),
                                       st.integers(min_value=0, max_value=10**7)))
    return Chain(serving=serving, referrer=referrer, uplines=uplines, buyer_referrer=buyer)


def exact_shares(commission: int, policy: Policy, chain: Chain) -> dict:
    """{(role, consultant id or None, level): exact share}; the platform's key holds its share
    including every skipped member's, before the buyer's reward."""
    c = Fraction(commission)
    fee = c * Fraction(policy.platform_fee_bps, BPS)
    rest = c - fee
    platform = fee
    shares = {}
    members = []
    if chain.referrer is not None:
        members.append((("referral", chain.referrer.consultant_id, None), chain.referrer,
                        rest * Fraction(policy.referral_bps, BPS)))
    for level, member in enumerate(chain.uplines[:policy.max_upline_levels], start=1):
        members.append((("upline", member.consultant_id, level), member,
                        rest * Fraction(policy.upline_bps[level - 1], BPS)))
    paid = Fraction(0)
    for key, member, share in members:
        if member.eligible:
            shares[key] = share
            paid += share
        else:
            platform += share
    serving = c - fee - sum((s for _, _, s in members), Fraction(0))
    if chain.serving.eligible:
        shares[("serving", chain.serving.consultant_id, None)] = serving
    else:
        platform += serving
    shares[("platform_fee", PLATFORM_ID, None)] = platform
    assert sum(shares.values()) == c  # the reference itself adds up
    return shares


def by_key(lines) -> dict:
    return {(line.role, line.party_id, line.level): line.amount_cents for line in lines}


def amount(lines, role, party_id=None) -> int:
    return sum(line.amount_cents for line in lines
               if line.role == role and (party_id is None or line.party_id == party_id))


def floor_or_ceil(amount_cents: int, exact: Fraction) -> bool:
    floor = exact.numerator // exact.denominator
    return amount_cents == floor or (exact.denominator != 1 and amount_cents == floor + 1)


@given(commissions, policies(), chains())
def test_lines_sum_to_the_commission_for_any_policy_and_chain(commission, policy, chain):
    assert sum(line.amount_cents for line in split(commission, policy, chain)) == commission


@given(commissions, policies(), chains())
def test_no_line_is_zero_or_negative(commission, policy, chain):
    assert all(line.amount_cents > 0 for line in split(commission, policy, chain))


@given(commissions, policies(), chains())
def test_uplines_are_paid_at_most_to_the_policy_level_and_never_beyond_two(commission, policy, chain):
    lines = split(commission, policy, chain)
    uplines = [line for line in lines if line.role == "upline"]
    assert len(uplines) <= policy.max_upline_levels <= MAX_UPLINE_LEVELS
    levels = [line.level for line in uplines]
    assert len(set(levels)) == len(levels)
    for line in uplines:
        assert 1 <= line.level <= policy.max_upline_levels
        assert line.party_id == chain.uplines[line.level - 1].consultant_id  # level n is the n-th upline
    # Uplines beyond the cap never appear anywhere.
    beyond = {m.consultant_id for m in chain.uplines[policy.max_upline_levels:]}
    assert not any(line.party_type == "consultant" and line.party_id in beyond for line in lines)


@given(commissions, policies(), chains())
def test_the_split_is_deterministic(commission, policy, chain):
    assert split(commission, policy, chain) == split(commission, policy, chain)


@given(commissions, policies(), chains())
def test_each_consultant_line_is_its_exact_share_rounded_down_or_up(commission, policy, chain):
    lines = split(commission, policy, chain)
    shares = exact_shares(commission, policy, chain)
    got = by_key(lines)
    assert len(got) == len(lines)  # one line per (role, party, level)
    for key, exact in shares.items():
        if key[0] == "platform_fee":
            continue
        assert floor_or_ceil(got.get(key, 0), exact), (key, got.get(key, 0), exact)
    # No consultant line that the reference does not know (skipped members get nothing).
    assert {k for k in got if k[0] not in ("platform_fee", "buyer_referral")} <= set(shares)


@given(commissions, policies(), chains())
def test_platform_and_buyer_reward_together_are_the_platform_share_rounded(commission, policy, chain):
    """The buyer's reward moves money out of the platform's line, never out of a consultant's,
    and is capped by what the platform's line holds."""
    lines = split(commission, policy, chain)
    platform_exact = exact_shares(commission, policy, chain)[("platform_fee", PLATFORM_ID, None)]
    platform, buyer = amount(lines, "platform_fee"), amount(lines, "buyer_referral")
    before_reward = platform + buyer
    assert floor_or_ceil(before_reward, platform_exact)
    reward = chain.buyer_referrer.reward_cents if chain.buyer_referrer else 0
    assert buyer == min(reward, before_reward)
    buyer_lines = [line for line in lines if line.role == "buyer_referral"]
    assert all(line.party_type == "buyer" and line.party_id == BUYER_ID for line in buyer_lines)


@given(commissions, policies(), chains())
def test_a_buyer_reward_changes_no_consultant_line(commission, policy, chain):
    with_reward = split(commission, policy, chain)
    without = split(commission, policy, replace(chain, buyer_referrer=None))
    consultant = lambda lines: [line for line in lines if line.party_type == "consultant"]  # noqa: E731
    assert consultant(with_reward) == consultant(without)
    assert amount(without, "platform_fee") == amount(with_reward, "platform_fee") + amount(with_reward,
                                                                                            "buyer_referral")


def _toggle(chain: Chain, which: int, eligible: bool) -> Chain:
    """``which``: -1 serving, 0 referrer, n ≥ 1 the n-th upline."""
    if which == -1:
        return replace(chain, serving=replace(chain.serving, eligible=eligible))
    if which == 0:
        return replace(chain, referrer=replace(chain.referrer, eligible=eligible))
    uplines = list(chain.uplines)
    uplines[which - 1] = replace(uplines[which - 1], eligible=eligible)
    return replace(chain, uplines=tuple(uplines))


@given(commissions, policies(), chains(), st.data())
def test_an_ineligible_member_gets_no_line_and_the_platform_gets_at_least_as_much(commission, policy, chain, data):
    choices = [-1] + ([0] if chain.referrer else []) + list(range(1, min(len(chain.uplines),
                                                                         policy.max_upline_levels) + 1))
    which = data.draw(st.sampled_from(choices))
    eligible = split(commission, policy, _toggle(chain, which, True))
    ineligible = split(commission, policy, _toggle(chain, which, False))
    member = (chain.serving if which == -1 else chain.referrer if which == 0 else chain.uplines[which - 1])
    assert not any(line.party_type == "consultant" and line.party_id == member.consultant_id for line in ineligible)
    # Compare before the buyer's reward, and after it (the reward is capped by the platform line).
    assert (amount(ineligible, "platform_fee") + amount(ineligible, "buyer_referral")
            >= amount(eligible, "platform_fee") + amount(eligible, "buyer_referral"))
    assert amount(ineligible, "platform_fee") >= amount(eligible, "platform_fee")


@given(commissions, policies(), chains())
def test_without_a_referrer_the_serving_consultant_gets_at_least_as_much(commission, policy, chain):
    referrer = Member(REFERRER_ID, "转介", eligible=True)
    present = split(commission, policy, replace(chain, referrer=referrer))
    absent = split(commission, policy, replace(chain, referrer=None))
    assert amount(absent, "serving") >= amount(present, "serving")
    if chain.serving.eligible:
        # The referrer's share comes out of the serving consultant's alone: the platform's
        # exact share is unmoved, so its line stays within a cent. (An ineligible serving
        # consultant's share is the platform's, and that share does shrink by the referrer's.)
        assert abs(amount(absent, "platform_fee") - amount(present, "platform_fee")) <= 1


@given(commissions, policies(), chains())
def test_a_missing_upline_leaves_his_share_with_the_serving_consultant(commission, policy, chain):
    full = replace(chain, uplines=tuple(Member(UPLINE_BASE_ID + i, f"上级{i + 1}") for i in range(5)))
    none = replace(chain, uplines=())
    assert amount(split(commission, policy, none), "serving") >= amount(split(commission, policy, full), "serving")
    assert amount(split(commission, policy, none), "upline") == 0


@given(commissions, policies(), chains())
def test_lines_come_in_the_documented_order(commission, policy, chain):
    order = {"platform_fee": 0, "referral": 1, "upline": 2, "serving": 3, "buyer_referral": 4}
    keys = [(order[line.role], line.level or 0) for line in split(commission, policy, chain)]
    assert keys == sorted(keys)


@pytest.mark.parametrize("commission", [-1, 1.5, "100"])
def test_a_negative_or_non_integer_commission_is_refused(commission):
    with pytest.raises(ValueError):
        split(commission, Policy(platform_fee_bps=1000), Chain(serving=Member(1, "甲")))


# --- worked examples, by hand --------------------------------------------------------------

def test_a_worked_example_with_every_role():
    """C = 1,000,001 cents; fee 10%, referral 20%, uplines 10% and 5% of the rest (90%).

    exact shares (cents)                          floor      remainder
      platform  1,000,001 × 0.10       = 100,000.1     100,000   .1
      referral  1,000,001 × 0.9 × 0.20 = 180,000.18    180,000   .18
      upline 1  1,000,001 × 0.9 × 0.10 =  90,000.09     90,000   .09
      upline 2  1,000,001 × 0.9 × 0.05 =  45,000.045    45,000   .045
      serving   the rest: 1 − .1 − .18 − .09 − .045 = .585 of C
                1,000,001 × 0.585      = 585,000.585   585,000   .585
    floors sum to 1,000,000: one cent left, to the largest remainder (.585, serving).
    """
    policy = Policy(platform_fee_bps=1000, referral_bps=2000, upline_bps=(1000, 500), max_upline_levels=2)
    chain = Chain(serving=Member(1, "甲"), referrer=Member(2, "乙"), uplines=(Member(3, "丙"), Member(4, "丁")))
    lines = split(1_000_001, policy, chain)
    assert [(line.role, line.party_type, line.party_id, line.level, line.amount_cents) for line in lines] == [
        ("platform_fee", "platform", 0, None, 100_000),
        ("referral", "consultant", 2, None, 180_000),
        ("upline", "consultant", 3, 1, 90_000),
        ("upline", "consultant", 4, 2, 45_000),
        ("serving", "consultant", 1, None, 585_001),
    ]


def test_a_worked_example_with_a_skipped_upline_and_a_third_upline_ignored():
    """C = 1,000 cents; fee 10%, one upline level at 10% of the rest; that upline was not
    operating on the subscription date, so his 1,000 × 0.9 × 0.1 = 90 joins the platform's
    100 → 190; the serving consultant keeps 1,000 × 0.81 = 810. The second upline is beyond
    the policy's one level and gets nothing."""
    policy = Policy(platform_fee_bps=1000, upline_bps=(1000,), max_upline_levels=1)
    chain = Chain(serving=Member(1, "甲"), uplines=(Member(3, "丙", eligible=False), Member(4, "丁")))
    lines = split(1000, policy, chain)
    assert [(line.role, line.party_id, line.amount_cents) for line in lines] == [
        ("platform_fee", 0, 190), ("serving", 1, 810)]
    assert "丙" in lines[0].reason


def test_a_worked_tie_goes_to_the_platform_and_the_reward_takes_it():
    """C = 1 cent, fee 50%: platform 0.5, serving 0.5 — a tie, won by the platform (first in
    the fixed order). A buyer's reward of 10 cents is capped at the platform's 1 cent, which
    leaves the platform's line empty (dropped) and gives the buyer 1 cent."""
    policy = Policy(platform_fee_bps=5000, max_upline_levels=0)
    chain = Chain(serving=Member(1, "甲"))
    assert [(line.role, line.amount_cents) for line in split(1, policy, chain)] == [("platform_fee", 1)]
    rewarded = replace(chain, buyer_referrer=BuyerReferrer(9, "老业主", 10))
    assert [(line.role, line.party_id, line.amount_cents) for line in split(1, policy, rewarded)] == [
        ("buyer_referral", 9, 1)]


def test_a_buyer_reward_smaller_than_the_platform_line_is_paid_in_full():
    """C = 100,000; fee 3% = 3,000; reward 1,200 → platform 1,800, buyer 1,200, serving 97,000."""
    policy = Policy(platform_fee_bps=300, max_upline_levels=0)
    chain = Chain(serving=Member(1, "甲"), buyer_referrer=BuyerReferrer(9, "老业主", 1200))
    assert [(line.role, line.amount_cents) for line in split(100_000, policy, chain)] == [
        ("platform_fee", 1800), ("serving", 97_000), ("buyer_referral", 1200)]


# --- the policy ----------------------------------------------------------------------------

def test_three_upline_levels_are_refused():
    with pytest.raises(PolicyInvalid) as refused:
        Policy(platform_fee_bps=1000, upline_bps=(100, 100, 100), max_upline_levels=3)
    assert "max_upline_levels" in refused.value.problems
    assert "max_upline_levels" in policy_problems(1000, 0, (100, 100, 100), 3)


@pytest.mark.parametrize("fee,referral,upline,levels,field", [
    (10_001, 0, (), 0, "platform_fee_bps"),
    (-1, 0, (), 0, "platform_fee_bps"),
    (1000, 10_001, (), 0, "referral_bps"),
    (1000, 5000, (3000, 2001), 2, "referral_bps"),  # 5000 + 5001 > 100%
    (1000, 0, (100,), 2, "upline_bps"),  # one rate for two levels
    (1000, 0, (100, -5), 2, "upline_bps"),
    (1000, 0, (), True, "max_upline_levels"),
    (1000, 0, (), -1, "max_upline_levels"),
    (1.5, 0, (), 0, "platform_fee_bps"),
])
def test_policy_problems_name_the_bad_field(fee, referral, upline, levels, field):
    assert field in policy_problems(fee, referral, upline, levels)
    with pytest.raises(PolicyInvalid):
        Policy(platform_fee_bps=fee, referral_bps=referral, upline_bps=upline, max_upline_levels=levels)


@given(policies())
def test_valid_policies_have_no_problems_and_survive_a_round_trip(policy):
    assert policy_problems(policy.platform_fee_bps, policy.referral_bps, policy.upline_bps,
                           policy.max_upline_levels) == {}
    assert Policy.from_dict(policy.as_dict()) == policy
