"""Celery workers: the app factory (``tasks.app``), the one beat schedule (``tasks.beat``) and thin
tasks (``tasks.jobs``) that call one function in ``scheduler/`` each.

Start a worker with ``celery -A tasks.app worker`` or, embedded, ``roster run``.
"""
