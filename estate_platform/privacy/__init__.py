"""Buyers' personal data (个人信息保护, PIPL): erasure and access requests, retention,
phone reveals and the buyer's registration notice (issue 15 §1)."""
