"""Staff sign-in throttling (登录限速): failures are counted per normalised username,
known or not, and per client address; past a few free failures each key must wait,
doubling every further failure up to a cap.

Why this shape (issue 14, defect 7): the old per-account lock let anyone lock any staff
member out by name for 15 minutes and, because unknown names never locked, told which
names exist. Here nothing is a state only time undoes: a success clears the username's
counter, an admin can clear it, and unknown names are counted exactly like known ones.
The username throttle applies from every address (a password guesser has many); it
starts at a short wait, so a victim under a casual attack loses seconds, and an admin
unlock ends a persistent one. The address throttle has a higher threshold and stops one
address from trying many names.

The counter rows are locked for the attempt (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite serialises writers), so parallel guesses for one key cannot all slip past a
check made before the first of them is counted.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..errors import TooManyRequests
from .models import LoginThrottle

KEY_LENGTH = 100


class LoginThrottled(TooManyRequests):
    code, message = "login_throttled", "登录尝试过于频繁，请稍后再试"
    keep_changes = True  # the refused attempt is recorded


@dataclass(frozen=True)
class ThrottleRules:
    username_free_failures: int = 5
    ip_free_failures: int = 20
    backoff_seconds: int = 30
    backoff_max_seconds: int = 900
    forget_after_minutes: int = 60

    @classmethod
    def from_config(cls, config: Mapping) -> "ThrottleRules":
        return cls(username_free_failures=config["LOGIN_MAX_FAILURES"],
                   ip_free_failures=config["LOGIN_IP_MAX_FAILURES"],
                   backoff_seconds=config["LOGIN_BACKOFF_SECONDS"],
                   backoff_max_seconds=config["LOGIN_BACKOFF_MAX_SECONDS"],
                   forget_after_minutes=config["LOGIN_FORGET_AFTER_MINUTES"])

    def free_failures(self, scope: str) -> int:
        return self.username_free_failures if scope == "username" else self.ip_free_failures

    def backoff(self, scope: str, failures: int) -> int:
        """Seconds to wait after ``failures`` failures: 0 while free, then doubling to the cap."""
        over = failures - self.free_failures(scope)
        if over < 0:
            return 0
        return min(self.backoff_seconds * 2 ** min(over, 32), self.backoff_max_seconds)


# --- keys ------------------------------------------------------------------------------------

def normalise_username(raw: str) -> str:
    """The throttle key (and the login lookup) of a typed username: trimmed, case-folded."""
    return raw.strip().casefold()[:KEY_LENGTH]


def address_key(ip: str) -> str:
    """IPv4 as is; IPv6 by its /64, the smallest block one subscriber is given."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()[:KEY_LENGTH]
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# --- counters --------------------------------------------------------------------------------

def counters_for(session: Session, *, username: str, ip: str) -> list[LoginThrottle]:
    """The username's and the address's counters, created if new and locked until commit."""
    keys = sorted({("ip", address_key(ip)), ("username", normalise_username(username))})
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for scope, key in keys:  # one order everywhere, so two attempts never wait on each other in a cycle
        session.execute(insert(LoginThrottle).values(scope=scope, key=key, failures=0)
                        .on_conflict_do_nothing(index_elements=["scope", "key"]))
    return list(session.scalars(
        select(LoginThrottle)
        .where(or_(*(and_(LoginThrottle.scope == scope, LoginThrottle.key == key) for scope, key in keys)))
        .order_by(LoginThrottle.scope, LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)))


def seconds_to_wait(counters: list[LoginThrottle], now: datetime) -> int:
    waits = [math.ceil((c.blocked_until - now).total_seconds()) for c in counters
             if c.blocked_until is not None and c.blocked_until > now]
    return max(waits, default=0)


def count_failure(counter: LoginThrottle, rules: ThrottleRules, now: datetime) -> None:
    forget_before = now - timedelta(minutes=rules.forget_after_minutes)
    if counter.last_failure_at is None or counter.last_failure_at < forget_before:
        counter.failures = 0
    counter.failures += 1
    counter.last_failure_at = now
    wait = rules.backoff(counter.scope, counter.failures)
    counter.blocked_until = now + timedelta(seconds=wait) if wait else None


def clear(counter: LoginThrottle) -> None:
    counter.failures = 0
    counter.blocked_until = None


def clear_username(session: Session, username: str) -> int:
    """An admin's unlock: forget the username's failures. Returns how many rows went."""
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.scope == "username",
                                                         LoginThrottle.key == normalise_username(username)))
    return result.rowcount or 0


def username_states(session: Session, usernames: list[str]) -> dict[str, LoginThrottle]:
    """Current counters of these usernames (keyed by the normalised name), for the admin views."""
    keys = {normalise_username(name) for name in usernames}
    if not keys:
        return {}
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.scope == "username",
                                                       LoginThrottle.key.in_(keys)))
    return {row.key: row for row in rows}


def purge_stale(session: Session, *, now: datetime, rules: ThrottleRules) -> int:
    """Drop counters that nothing remembers any more (past the forget window, not blocked)."""
    cutoff = now - timedelta(minutes=rules.forget_after_minutes)
    result = session.execute(delete(LoginThrottle).where(
        or_(LoginThrottle.last_failure_at.is_(None), LoginThrottle.last_failure_at < cutoff),
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now)))
    return result.rowcount or 0
