"""Benchmarks: ``make bench`` runs them all (benchmarks/run_all.py)."""
import core  # noqa: F401  (first: sets OpenMP's idle wait before torch loads, as the app does; core/openmp.py)
