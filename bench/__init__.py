"""Benchmarks: `python -m bench` runs every part and writes bench/results.json (see bench/__main__.py)."""
