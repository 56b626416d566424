"""The Chalice edge: the middleware, the route handlers app.py's one-line views call, Chalice responses,
cursors and openapi.json. Only this package, app.py and the authorizer's declaration
(chalicelib/auth/authorizer.py) know about chalice; the HTTP contract this package shares with the
streaming function is chalicelib/protocol."""
