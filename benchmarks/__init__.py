"""Benchmarks: ours against peer Redis job queues and Redis' own ceiling.

Run ``scripts/bench`` (or ``python -m benchmarks.run``); see ``run.py``.
This package must stay importable without the project installed: the peer
adapters run from other virtualenvs and import ``benchmarks._adapter``.
"""
