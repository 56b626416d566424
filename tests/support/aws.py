"""The fake AWS identity every test and test subprocess uses: set in one place."""

# Credentials and a region that exist nowhere: DynamoDB Local and moto accept anything, and nothing a
# test runs can reach or bill a real account. Subprocesses get them in their environment too.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
