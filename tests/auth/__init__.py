"""Tests of chalicelib.auth: the verifier, the local issuer and the authorizer."""
