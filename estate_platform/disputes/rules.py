"""The dispute rules that are pure (STYLE §5): states, the statement deadline and the
penalty arithmetic (DESIGN §2, §4, §5a).

Penalty terms (违约金条款) are structured: a fixed amount per case and a multiple of the
commission at stake (in basis points: 20000 = 2×). The penalty is the **higher** of the
two: ``max(fixed, multiple × stake)``, the multiple rounded half up to the cent, in
integers. The agreement version in force when the buyer was registered carries the
platform's default terms (rendered into its text, so the signed SHA-256 covers them); a
project may set stricter ones. Stricter is decided term by term: the terms that apply are
``max`` of each component over the agreement's and the project's terms in force then, so
a project can never soften the agreement. The commission at stake is the deal's commission
when there is a platform deal; otherwise what the project's rule in force on the sale date
gives for the listed price (zero when no rule applies: then the fixed amount alone applies).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..clock import end_of_local_day, local_date
from ..money import BPS

STATEMENT_DAYS = 7  # parties answer until the end of the 7th Shanghai day after opening
MAX_MULTIPLE_BPS = 1_000_000  # 100× the commission at stake
MAX_PENALTY_CENTS = 10 ** 12  # 100 亿元, as every amount typed by staff

# action → {from status: to status}
TRANSITIONS = {
    "investigate": {"open": "investigating"},
    "uphold": {"open": "upheld", "investigating": "upheld"},
    "dismiss": {"open": "dismissed", "investigating": "dismissed"},
    "withdraw": {"open": "withdrawn", "investigating": "withdrawn"},
}
OPEN_STATUSES = ("open", "investigating")
STATUS_LABELS = {"open": "待处理", "investigating": "调查中", "upheld": "成立", "dismissed": "不成立",
                 "withdrawn": "已撤回"}
SOURCE_LABELS = {"revisit": "回访", "reconciliation": "销售对账", "risk_flag": "风控预警", "manual": "运营发起",
                 "complaint": "顾问投诉"}
RESPONDENT_LABELS = {"consultant": "顾问", "developer": "开发商"}
OUTCOME_LABELS = {"upheld": "成立", "dismissed": "不成立"}


class TransitionRefused(ValueError):
    def __init__(self, status: str, action: str):
        self.status, self.action = status, action
        super().__init__(f"{action} is not allowed from {status}")


def next_status(status: str, action: str) -> str:
    """The status ``action`` leads to from ``status``; a closed dispute never moves again."""
    try:
        return TRANSITIONS[action][status]
    except KeyError:
        raise TransitionRefused(status, action) from None


def statement_deadline(opened_at: datetime, days: int = STATEMENT_DAYS) -> datetime:
    """The last instant a party may answer: the end of the ``days``-th Shanghai day after opening."""
    return end_of_local_day(local_date(opened_at) + timedelta(days=days))


@dataclass(frozen=True)
class PenaltyTerms:
    fixed_cents: int = 0
    multiple_bps: int = 0

    def __post_init__(self):
        for name, value, high in (("fixed_cents", self.fixed_cents, MAX_PENALTY_CENTS),
                                  ("multiple_bps", self.multiple_bps, MAX_MULTIPLE_BPS)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
                raise ValueError(f"{name} must be an integer between 0 and {high}")

    def stricter(self, other: "PenaltyTerms | None") -> "PenaltyTerms":
        """Term by term, the harder of the two (a project only ever adds to the agreement)."""
        if other is None:
            return self
        return PenaltyTerms(max(self.fixed_cents, other.fixed_cents), max(self.multiple_bps, other.multiple_bps))

    def text(self) -> str:
        """The terms in words, as the agreement's clause and the project's rules say them."""
        from ..money import yuan
        parts = []
        if self.fixed_cents:
            parts.append(f"每宗 {yuan(self.fixed_cents)}")
        if self.multiple_bps:
            parts.append(f"所涉佣金的 {multiple_text(self.multiple_bps)} 倍")
        if not parts:
            return "未约定违约金"
        return "违约金为" + ("以下两者中较高者：" + "；".join(parts) if len(parts) == 2 else parts[0])


def multiple_text(bps: int) -> str:
    """20000 → "2", 15000 → "1.5", 12345 → "1.2345"."""
    whole, rest = divmod(bps, BPS)
    return f"{whole}.{rest:04d}".rstrip("0") if rest else str(whole)


def multiple_of(stake_cents: int, multiple_bps: int) -> int:
    """``multiple_bps`` of the stake, rounded half up to the cent (四舍五入), in integers."""
    if stake_cents < 0 or multiple_bps < 0:
        raise ValueError("stake and multiple must not be negative")
    return (stake_cents * multiple_bps + BPS // 2) // BPS


def penalty_cents(terms: PenaltyTerms, stake_cents: int) -> int:
    """The contract penalty: the higher of the fixed amount and the multiple of the stake."""
    return max(terms.fixed_cents, multiple_of(stake_cents, terms.multiple_bps))


def check_sale(price_cents: int | None, sold_on: date | None, today: date) -> dict[str, list[str]]:
    """A sale given to price the stake: both or neither, positive, not in the future."""
    errors: dict[str, list[str]] = {}
    if (price_cents is None) != (sold_on is None):
        errors["sale_price_cents" if price_cents is None else "sold_on"] = ["成交价与成交日期须同时填写"]
    if price_cents is not None and (not isinstance(price_cents, int) or not 0 < price_cents <= MAX_PENALTY_CENTS):
        errors["sale_price_cents"] = ["成交价须大于 0 分且不超过 100 亿元"]
    if sold_on is not None and sold_on > today:
        errors["sold_on"] = ["成交日期不能晚于今天"]
    return errors
