"""Scenario checks (filled below)."""
