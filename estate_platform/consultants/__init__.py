"""Consultants (置业顾问): onboarding, approval, suspension, invites (DESIGN §2)."""
