"""Benchmarks of nanobanana-async (and of its emulator's own cost)."""
