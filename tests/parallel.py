"""Real parallel requests, for the concurrency claims (DESIGN §7.1)."""
from __future__ import annotations

import threading
from collections import Counter


def parallel(app, requests):
    """Fire ``requests`` (callables taking a test client) at the same instant."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(i, request):
        client = app.test_client()
        barrier.wait()
        response = request(client)
        results[i] = (response.status_code, (response.get_json() or {}).get("error", {}).get("code"))

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return Counter(results)
