"""The tasks domain: items and profiles, their rules and use-cases. Storage-agnostic: it talks to
the store port (chalicelib/store/base.py) and never imports an adapter, boto3, sqlite3 or chalice."""
