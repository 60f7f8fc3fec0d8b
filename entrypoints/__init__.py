"""Entrypoints: the click CLI and the composition root."""
