"""Test helpers for nasforge and its plugins: conformance suites for every component kind."""
