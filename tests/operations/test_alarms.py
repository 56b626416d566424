"""The alarms ``status`` lists (chalicelib/operations/alarms.py): CloudWatch's alarms in ALARM under the stack's
prefix only (moto: no local stand-in speaks CloudWatch's query protocol)."""

from __future__ import annotations

import pytest

from chalicelib.errors import ChatCommandsUnavailable
from chalicelib.operations.alarms import CloudWatchAlarms


def _alarm(client, name: str) -> None:
    client.put_metric_alarm(
        AlarmName=name,
        Namespace="TasksApi/tasks-prod",
        MetricName="Errors5xx",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def test_only_this_stacks_alarms_in_alarm_are_listed(fake_aws):
    from moto import mock_aws

    with mock_aws():
        alarms = CloudWatchAlarms("tasks-prod-", region="eu-west-1")
        client = alarms.client
        for name in ("tasks-prod-Api5xx-1", "tasks-prod-Latency-2", "tasks-prod-Quiet-3", "other-stack-Api5xx-4"):
            _alarm(client, name)
        for name in ("tasks-prod-Latency-2", "tasks-prod-Api5xx-1", "other-stack-Api5xx-4"):
            client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="drill")

        assert alarms.firing() == ["tasks-prod-Api5xx-1", "tasks-prod-Latency-2"]


def test_cloudwatch_unreachable_is_chat_unavailable(fake_aws):
    alarms = CloudWatchAlarms("tasks-prod-", region="eu-west-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(ChatCommandsUnavailable, match="unreachable"):
        alarms.firing()
