"""Tests of rosters, fill and the week's schedule."""
