"""Tests of organisations and coordinators."""
