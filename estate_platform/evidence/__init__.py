"""The evidence log (证据链, DESIGN §4): an append-only hash chain per subject."""
