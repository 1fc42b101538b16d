"""Micro-benchmarks of matmul-heavy backprop: ``python -m bench`` (``--quick`` for a smoke run)."""
