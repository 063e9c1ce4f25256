"""Tests of services and recurrence."""
