"""Revisits (回访): the calls operations make to buyers to check the platform's records
(DESIGN §4, §5a). ``rules`` is pure (due dates, retries, sampling, contradictions),
``services`` creates and works the tasks, ``scripts`` holds the Chinese call scripts and
``tasks`` the hourly scheduler."""
