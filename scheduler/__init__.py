"""Roster's domain: organisations, services, planning, rosters, reminders, attendance."""
