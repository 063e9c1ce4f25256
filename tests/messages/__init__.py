"""Tests of message texts and channels."""
