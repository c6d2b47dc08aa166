"""Handoffs (转介/二次分配): a consultant passes a buyer to a colleague or the pool."""
