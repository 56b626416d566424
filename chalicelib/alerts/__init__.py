"""Chat alerts: each CloudWatch alarm state change the alarm topic delivers, posted to the team's Slack
channel through an incoming webhook (docs/OPERATIONS.md "Chat alerts").

- ``base``: the ports (the chat webhook, the secrets it reads its URL from);
- ``message``: an SNS record -> the alarm change it reports -> the Slack message (pure);
- ``notifier``: the service app.py's notifier hands each record to;
- ``slack``, ``ssm``: the adapters (stdlib HTTPS with retries; SSM SecureString through boto3).

Loaded only by the notifier function (chalicelib/consumers.py ``alarm`` imports it lazily).
"""
