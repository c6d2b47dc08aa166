"""Handoff jobs (filled in with the handoff services)."""
