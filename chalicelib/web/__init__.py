"""The HTTP edge: request parsing, problem responses, cursors, the middleware and the route handlers
that app.py's one-line views call. Only this package (and app.py) knows about chalice."""
