"""Benchmark harness: metamigrate against raw SQLite and the migration tools operators pick instead.

Run ``python -m bench --quick`` (N = 100, a smoke test) or ``python -m bench`` (the full run).
"""
