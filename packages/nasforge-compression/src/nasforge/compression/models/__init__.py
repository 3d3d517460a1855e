"""Reference models for compression examples and benchmarks."""
