"""Test helpers shared across suites (DynamoDB Local, request counting, a fake Lambda Runtime API)."""
