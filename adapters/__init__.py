"""Adapters: implementations of the driven ports (filled in by the engine issue)."""
