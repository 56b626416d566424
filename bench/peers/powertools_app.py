"""Peer: the app's ``GET /items`` as a team would write it with Powertools for AWS Lambda's REST resolver and
boto3 -- the caller's partition from the Cognito authorizer's claims, one Query (the app's own: newest first,
a page plus one, strongly consistent), the page rendered as the app renders it (``items``, ``next_cursor``)."""

import base64
import os
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from boto3.dynamodb.types import TypeDeserializer

app = APIGatewayRestResolver()
dynamodb = boto3.client("dynamodb")
deserializer = TypeDeserializer()
TABLE_NAME = os.environ["TABLE_NAME"]
# What the app's Item schema renders (the stored record also holds the write's request_id).
FIELDS = ("id", "title", "notes", "status", "due", "tags", "created_at", "updated_at", "version")


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@app.get("/items")
def list_items() -> dict[str, Any]:
    sub = app.current_event.request_context.authorizer.claims["sub"]
    limit = int(app.current_event.get_query_string_value("limit", "20") or "20")
    found = dynamodb.query(
        TableName=TABLE_NAME,
        ConsistentRead=True,
        ScanIndexForward=False,
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
        ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
        ExpressionAttributeValues={":pk": {"S": f"USER#{sub}"}, ":prefix": {"S": "ITEM#"}},
        Limit=limit + 1,
    )
    page = found["Items"][:limit]
    items = [{name: plain(deserializer.deserialize(i[name])) for name in FIELDS if name in i} for i in page]
    more = len(found["Items"]) > limit
    cursor = base64.urlsafe_b64encode(page[-1]["SK"]["S"].encode()).decode() if more else None
    return {"items": items, "next_cursor": cursor}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
