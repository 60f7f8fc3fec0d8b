"""Adapters: implementations of the driven ports (storage, webhooks, the simulated venue, the system clock and ids)."""
