"""Settlement (结算): withholding, payout accounts, batches, gateways, statements (DESIGN §5, issue 12)."""
