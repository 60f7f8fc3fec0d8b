"""Ports: driven-port protocols and the application service (filled in by the engine issue)."""
