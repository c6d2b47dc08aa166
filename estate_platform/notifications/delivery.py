"""Placeholder delivery: marks nothing until the subscribe-message adapter lands."""
from __future__ import annotations


def deliver(notification_id: int) -> bool:
    return False
