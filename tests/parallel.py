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


def at_once(app, work, threads: int = 4) -> tuple[list, list[str]]:
    """Run ``work()`` in ``threads`` threads started at the same instant, each in its own app
    context (its own session); returns what each returned and the errors raised, as text."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait()
                try:
                    results.append(work())
                finally:
                    from estate_platform.db import db
                    db.session.remove()
        except Exception as exc:  # reported by the caller's assertions
            errors.append(repr(exc))

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=60)
    return results, errors
