"""Benchmark helpers shared by benchmarks/ and `vips bench`."""
