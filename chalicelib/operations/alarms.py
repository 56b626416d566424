"""The alarms in ALARM, for the chat command ``status``: CloudWatch DescribeAlarms (StateValue=ALARM) under the
stack's alarm name prefix, through botocore (the command is rare; no request path of the API reads it)."""

from __future__ import annotations

from typing import Unpack

from chalicelib import aws
from chalicelib.errors import ChatCommandsUnavailable


class CloudWatchAlarms(aws.ClientOwner):
    """The Alarms port (chalicelib/tasks/commands.py) on CloudWatch; the boto3 client is built on first use."""

    def __init__(self, prefix: str, **client_options: Unpack[aws.ClientOptions]) -> None:
        self.prefix = prefix
        super().__init__(**client_options)

    client = aws.lazy_client("cloudwatch", connect_timeout=1.0, read_timeout=2.0, max_attempts=2)

    def firing(self) -> list[str]:
        client = self.client
        from botocore.exceptions import BotoCoreError  # loaded with the client already
        from botocore.exceptions import ClientError  # loaded with the client already

        names: list[str] = []
        try:
            pages = client.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=self.prefix,
                StateValue="ALARM",
                AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            )
            for page in pages:
                for kind in ("MetricAlarms", "CompositeAlarms"):
                    # Filtered again here: the request asks CloudWatch for ALARM only, and a stand-in (moto)
                    # that honours one filter of the two must not list quiet alarms as firing.
                    names.extend(
                        alarm["AlarmName"] for alarm in page.get(kind, []) if alarm.get("StateValue") == "ALARM"
                    )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise ChatCommandsUnavailable(f"CloudWatch refused DescribeAlarms ({code})") from exc
        except BotoCoreError as exc:
            raise ChatCommandsUnavailable(f"CloudWatch is unreachable ({type(exc).__name__})") from exc
        return sorted(names)


class NoAlarms:
    """Where no alarm is watched (``chalice local``, ALARM_NAME_PREFIX unset): None, which ``status`` reports."""

    def firing(self) -> list[str] | None:
        return None
