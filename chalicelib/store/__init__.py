"""Storage: the single-table port (base.py) and its adapters (sqlite.py, dynamodb.py)."""
