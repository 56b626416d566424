"""The API's HTTP contract without a web framework: request parsing, the wire schemas, CORS, problem
documents and the request's context. Both HTTP entry points speak it: the Chalice app (chalicelib/web)
and the streaming function (chalicelib/streaming)."""
