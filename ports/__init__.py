"""Ports: the driven ports the application needs, and the application layer (one module of use cases per aggregate)."""
