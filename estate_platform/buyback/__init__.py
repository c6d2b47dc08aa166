"""Buy-back of commission receivables (应收账款回购/佣金垫付, DESIGN §5, issue 13 §1)."""
