"""Observability: structured logs, EMF metrics, X-Ray tracing and request-id correlation.

Nothing here is imported by ``import app``; the middleware loads it on the first request it observes.
"""
