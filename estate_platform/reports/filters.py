"""The dashboards' filters (看板筛选), read once for the pages and the JSON API: a period of
Asia/Shanghai days, a city, a project, a consultant's team and the funnel's breakdown."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Mapping

from ..errors import ValidationFailed
from .funnel import BREAKDOWNS

INT_MAX = 2 ** 31 - 1
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # a period outside is refused (422)


@dataclass(frozen=True)
class DashboardFilters:
    start: date | None = None
    end: date | None = None
    city: str | None = None
    project_id: int | None = None
    team_of: int | None = None
    by: str = "city"

    def query(self) -> dict[str, str]:
        """As query parameters (for links: exports, other breakdowns)."""
        return {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in asdict(self).items()
                if v is not None and v != ""}


def parse(raw: Mapping[str, Any], *, allowed: tuple[str, ...] = ("start", "end", "city", "project_id", "team_of",
                                                                 "by")) -> DashboardFilters:
    """Strings (a page's query) or typed values (an API schema's) → filters; every bad field at once (422)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in allowed:
            errors.setdefault(name, []).append("不支持的筛选条件")
            continue
        if value is None or value == "":
            continue
        if name in ("start", "end"):
            try:
                day = value if isinstance(value, date) else date.fromisoformat(str(value))
            except ValueError:
                errors.setdefault(name, []).append("日期格式应为 YYYY-MM-DD")
                continue
            if not FIRST_DAY <= day <= LAST_DAY:
                errors.setdefault(name, []).append(f"日期应在 {FIRST_DAY.year}–{LAST_DAY.year} 年之间")
            else:
                values[name] = day
        elif name in ("project_id", "team_of"):
            try:
                number = int(value)
            except (TypeError, ValueError):
                number = 0
            if not 1 <= number <= INT_MAX:
                errors.setdefault(name, []).append("请填写有效的编号")
            else:
                values[name] = number
        elif name == "city":
            text = str(value).strip()
            if len(text) > 50 or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
                errors.setdefault(name, []).append("城市最多 50 个字符，且不能包含控制字符")
            elif text:
                values[name] = text
        elif name == "by":
            if value not in BREAKDOWNS:
                errors.setdefault(name, []).append("分组方式应为 city、project 或 month")
            else:
                values[name] = value
    if "start" in values and "end" in values and values["start"] > values["end"]:
        errors.setdefault("end", []).append("结束日期不能早于开始日期")
    if errors:
        raise ValidationFailed(errors)
    return DashboardFilters(**values)
