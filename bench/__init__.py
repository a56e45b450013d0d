"""Benchmarks: each figure is paired with a baseline measured in the same run (ratios)."""
