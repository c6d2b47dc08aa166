"""The domain core of the referral marketplace.

The design card calls this package ``platform``; that name shadows Python's
standard-library ``platform`` module, which SQLAlchemy, Celery and Stripe import
at start-up, so the core lives in ``estate_platform``. It never imports the web
layers (``mini_program_api``, ``admin``, ``web_common``).
"""
