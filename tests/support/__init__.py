"""Test helpers shared across suites (DynamoDB Local, request counting)."""
