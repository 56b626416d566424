"""The streaming function's runtime: ``POST /assistant/stream`` answered over Lambda's Runtime API with
response streaming (``python -m chalicelib.streaming``; cloudformation/transforms/streaming.py)."""
