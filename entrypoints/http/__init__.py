"""``allot serve``: the engine over HTTP, with routes and bodies shaped like the source documents' APIs."""
