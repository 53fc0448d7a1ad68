"""Tests of nestling (a package, so test modules may share names across folders)."""
