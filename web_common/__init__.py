"""Web plumbing shared by the two entrypoints (``mini_program_api`` and ``admin``):
the error envelope, the unit of work per request, bearer tokens and the
OpenAPI helpers. No business rules live here."""
