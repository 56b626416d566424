"""The assistant: answers about the caller's own items, buffered or as server-sent events."""
