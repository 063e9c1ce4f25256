"""Tests of planning, holidays, closures, occurrences."""
