"""Peer adapters: one module per library, each run in a peer virtualenv.

Every module is used as ``python -m benchmarks.peers.<name> <command> N
--url redis://...`` (see :mod:`benchmarks._adapter`). The libraries are not
installed in the project's own venv, so their imports carry
``type: ignore[import-not-found]``.
"""
