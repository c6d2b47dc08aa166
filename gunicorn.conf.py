"""gunicorn settings for production (read from the working directory by ``gunicorn wsgi:app``).

Logs: the app logs to stderr (estate_platform.logs); ``capture_output`` sends the
workers' stderr to gunicorn's error log, so a ``--daemon`` server with
``--error-logfile`` keeps every line, and ``errorlog = "-"`` is stderr otherwise.
The app writes its own request line (with the request id), so gunicorn's access log
is off unless ``--access-logfile`` is given.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
errorlog = "-"
capture_output = True
graceful_timeout = 30
timeout = 60
