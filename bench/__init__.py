"""Benchmarks: cold start, warm overhead, DynamoDB requests, scale and size, each as a ratio against an
anchor measured in the same run (``python -m bench.run [--quick]``)."""
