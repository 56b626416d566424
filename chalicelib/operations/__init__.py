"""Adapters of the operators' ports: the region switch (an SSM parameter or a local file), the chat commands'
signing secret (SSM), the alarms in ALARM (CloudWatch) and the seen Slack signatures (the app's store)."""
