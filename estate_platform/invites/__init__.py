"""Invite links and tracking (邀请/打标/追踪, DESIGN §1)."""
