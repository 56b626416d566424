"""Smoke test of the benchmark harness (bench/): it runs and reports; no timing assertions."""
