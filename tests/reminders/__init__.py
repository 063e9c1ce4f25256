"""Tests of reminders, dispatch and notices."""
