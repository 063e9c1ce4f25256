"""Tests of attendance and hours."""
