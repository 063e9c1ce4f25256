"""Tests of calendar feeds."""
