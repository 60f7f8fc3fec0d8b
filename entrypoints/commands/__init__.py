"""One module per command group: ``allot <resource> <verb>``."""
