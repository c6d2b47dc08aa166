"""Business days are Asia/Shanghai days; instants are UTC (DESIGN §2)."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_date(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def start_of_local_day(instant: datetime) -> datetime:
    """The UTC instant at which the Shanghai day containing ``instant`` began."""
    return datetime.combine(local_date(instant), time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def end_of_local_day(day: date) -> datetime:
    """The last UTC instant of a Shanghai day: "on the subscription date" means by its end."""
    return datetime.combine(day, time.max, tzinfo=SHANGHAI).astimezone(timezone.utc)


def start_of_local_month(day: date) -> date:
    return day.replace(day=1)
