"""Tests of volunteers, skills and their CSV."""
