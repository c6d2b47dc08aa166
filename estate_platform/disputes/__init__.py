"""Disputes (争议), penalties and their money (DESIGN §4, §5a, §7.10).

``services.open_dispute`` is the one entry point for every area that finds a problem
(revisits, reconciliation, risk flags, operations, a consultant's complaint);
``decisions`` holds the maker-checker decision and the money it moves; ``terms`` and
``rules`` the penalty terms and arithmetic; ``evidence_pack`` the printable pack.
"""
