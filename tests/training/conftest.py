"""Trainer tests share the suite-wide one-thread fixture of tests/conftest.py."""
