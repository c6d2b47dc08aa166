"""The double-entry ledger, the single source of truth for money (DESIGN §5)."""
