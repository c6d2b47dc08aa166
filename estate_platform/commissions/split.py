"""Splitting a deal's commission C into lines (DESIGN §3): pure (STYLE §5).

| line                          | exact share                          |
|-------------------------------|--------------------------------------|
| platform service fee          | C × fee                              |
| referring consultant (handoff)| (C − fee) × referral_bps             |
| upline level 1, level 2       | (C − fee) × upline_bps[i]            |
| serving consultant            | what is left                         |
| 老带新 referring buyer         | the project's reward, out of the platform's line |

Every exact share is a fraction over 10⁸ (bps × bps); all are rounded together
by largest remainder with a fixed tie-break (the order above), so the lines sum
to C exactly, every time. A chain member who was not active with a signed
agreement on the subscription date is skipped: his exact share joins the
platform's. Missing members (no referrer, fewer uplines than levels) leave their
share with the serving consultant. Uplines are capped at ``max_upline_levels``,
which is at most 2. Only deals pay: nothing here is paid for recruiting alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..money import BPS, allocate

MAX_UPLINE_LEVELS = 2  # China's anti-pyramid-selling rules and WeChat's platform rules (DESIGN §3)
ROLES = ("platform_fee", "referral", "upline", "serving", "buyer_referral")
PLATFORM_ID = 0  # the platform's party id in lines and accounts
_ROLE_LABEL = {"referral": "转介人", "upline": "上级"}  # in the platform line's note on skipped members


class PolicyInvalid(ValueError):
    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in problems.items()))


@dataclass(frozen=True)
class Policy:
    platform_fee_bps: int
    referral_bps: int = 0
    upline_bps: tuple[int, ...] = ()
    max_upline_levels: int = 2

    def __post_init__(self):
        problems = policy_problems(self.platform_fee_bps, self.referral_bps, self.upline_bps,
                                   self.max_upline_levels)
        if problems:
            raise PolicyInvalid(problems)

    def as_dict(self) -> dict:
        return {"platform_fee_bps": self.platform_fee_bps, "referral_bps": self.referral_bps,
                "upline_bps": list(self.upline_bps), "max_upline_levels": self.max_upline_levels}

    @classmethod
    def from_dict(cls, data: dict) -> "Policy":
        return cls(platform_fee_bps=data["platform_fee_bps"], referral_bps=data.get("referral_bps", 0),
                   upline_bps=tuple(data.get("upline_bps", ())), max_upline_levels=data.get("max_upline_levels", 2))


def _is_bps(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BPS


def policy_problems(platform_fee_bps, referral_bps, upline_bps, max_upline_levels) -> dict[str, list[str]]:
    """Every problem with a split policy at once, keyed by field (empty when valid)."""
    problems: dict[str, list[str]] = {}
    if not _is_bps(platform_fee_bps):
        problems["platform_fee_bps"] = ["平台服务费须为 0–10000 个基点"]
    if not _is_bps(referral_bps):
        problems["referral_bps"] = ["转介分成须为 0–10000 个基点"]
    levels = max_upline_levels
    upline_bps = tuple(upline_bps)
    if not isinstance(levels, int) or isinstance(levels, bool) or not 0 <= levels <= MAX_UPLINE_LEVELS:
        problems["max_upline_levels"] = [f"上级分成最多 {MAX_UPLINE_LEVELS} 级（不允许三级及以上分销）"]
    elif len(upline_bps) != levels:
        problems["upline_bps"] = [f"须为每一级上级各设一个分成比例（共 {levels} 级）"]
    if any(not _is_bps(b) for b in upline_bps):
        problems.setdefault("upline_bps", []).append("每级上级分成须为 0–10000 个基点")
    if not problems and referral_bps + sum(upline_bps) > BPS:
        problems["referral_bps"] = ["转介与上级分成之和不能超过 100%"]
    return problems


@dataclass(frozen=True)
class Member:
    """A consultant in a deal's chain, as of the subscription date."""
    consultant_id: int
    name: str
    eligible: bool = True  # active with a signed current agreement on the subscription date
    since: str | None = None  # when the edge that puts him here began (YYYY-MM-DD), for the reason text


@dataclass(frozen=True)
class BuyerReferrer:
    buyer_id: int
    name: str
    reward_cents: int
    since: str | None = None


@dataclass(frozen=True)
class Chain:
    serving: Member
    referrer: Member | None = None
    uplines: tuple[Member, ...] = field(default_factory=tuple)  # level 1 first
    buyer_referrer: BuyerReferrer | None = None


@dataclass(frozen=True)
class Line:
    party_type: str  # platform | consultant | buyer
    party_id: int
    role: str
    amount_cents: int
    reason: str
    level: int | None = None

    def as_dict(self) -> dict:
        return {"party_type": self.party_type, "party_id": self.party_id, "role": self.role,
                "amount_cents": self.amount_cents, "reason": self.reason, "level": self.level}


@lru_cache(maxsize=64)
def _fee_text(platform_fee_bps: int) -> str:
    return f"平台服务费 {platform_fee_bps / 100:g}%"


def split(commission_cents: int, policy: Policy, chain: Chain) -> list[Line]:
    """The lines of one deal's commission; they sum to ``commission_cents`` exactly."""
    if not isinstance(commission_cents, int) or commission_cents < 0:
        raise ValueError("commission must be a non-negative integer of cents")
    denominator = BPS * BPS
    rest = BPS - policy.platform_fee_bps
    platform_n = policy.platform_fee_bps * BPS
    skipped: list[str] = []
    slots: list[tuple[Member, str, int | None, int, str]] = []  # member, role, level, numerator, reason

    if chain.referrer is not None:
        slots.append((chain.referrer, "referral", None, rest * policy.referral_bps,
                      f"转介人 {chain.referrer.name}（转介于 {chain.referrer.since or '—'}）"))
    for level, member in enumerate(chain.uplines[:policy.max_upline_levels], start=1):
        invited = chain.serving.name if level == 1 else chain.uplines[level - 2].name
        slots.append((member, "upline", level, rest * policy.upline_bps[level - 1],
                      f"{chain.serving.name} 的 {level} 级上级 {member.name}"
                      f"（邀请 {invited} 于 {member.since or '—'}）"))

    paid_slots = []
    paid_n = 0
    for slot in slots:
        member, role, _, numerator, _ = slot
        if member.eligible:
            paid_slots.append(slot)
            paid_n += numerator
        else:
            platform_n += numerator
            skipped.append(f"{member.name}（{_ROLE_LABEL[role]}）成交日非有效签约顾问，其份额归平台")
    serving_n = denominator - platform_n - paid_n
    serving_reason = "成交顾问 " + chain.serving.name
    if not chain.serving.eligible:
        platform_n += serving_n
        skipped.append(f"{chain.serving.name}（成交顾问）成交日非有效签约顾问，其份额归平台")
        serving_n = 0

    numerators = [platform_n] + [s[3] for s in paid_slots] + [serving_n]
    amounts = allocate(commission_cents, numerators, denominator)

    platform_amount = amounts[0]
    platform_reason = _fee_text(policy.platform_fee_bps)
    if skipped:
        platform_reason += "；" + "；".join(skipped)
    lines: list[Line] = []
    buyer_line = None
    if chain.buyer_referrer is not None and chain.buyer_referrer.reward_cents > 0:
        reward = min(chain.buyer_referrer.reward_cents, platform_amount)
        if reward > 0:
            platform_amount -= reward
            buyer_line = Line("buyer", chain.buyer_referrer.buyer_id, "buyer_referral", reward,
                              f"老带新推荐人 {chain.buyer_referrer.name}（推荐于 {chain.buyer_referrer.since or '—'}）"
                              "，奖励由平台服务费承担")
    lines.append(Line("platform", PLATFORM_ID, "platform_fee", platform_amount, platform_reason))
    for (member, role, level, _, reason), amount in zip(paid_slots, amounts[1:-1]):
        lines.append(Line("consultant", member.consultant_id, role, amount, reason, level))
    lines.append(Line("consultant", chain.serving.consultant_id, "serving", amounts[-1], serving_reason))
    if buyer_line is not None:
        lines.append(buyer_line)
    return [line for line in lines if line.amount_cents > 0]

