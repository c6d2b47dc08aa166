"""Client-book jobs (filled in with the CRM services)."""
