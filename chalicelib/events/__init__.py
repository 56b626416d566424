"""The activity queue: the port (base.py) and its adapters (local.py, an embedded SQLite queue with a
worker thread; sqs.py, Amazon SQS)."""
