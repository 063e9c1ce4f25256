"""Tests of Celery workers and their faults."""
