"""Benchmarks run by `make bench` (not by `make test`); see bench/README.md."""
