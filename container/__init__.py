"""The Lambda container image: its Dockerfile and the assembly of its build context."""
