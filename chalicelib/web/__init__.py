"""The Chalice edge: the middleware, the route handlers app.py's one-line views call, Chalice responses,
cursors and openapi.json. Only this package (and app.py) knows about chalice; the HTTP contract it shares
with the streaming function is chalicelib/protocol."""
