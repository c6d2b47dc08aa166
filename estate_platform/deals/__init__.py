"""Deals (成交): stages, corrections and the recognition of their commission (DESIGN §2)."""
