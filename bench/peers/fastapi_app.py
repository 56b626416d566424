"""Peer: the app's ``GET /items`` as a team would write it with FastAPI, Mangum and boto3 -- the caller's
partition from the Cognito authorizer's claims (the Lambda event Mangum passes in the ASGI scope), one Query
(the app's own: newest first, a page plus one, strongly consistent), the page rendered as the app renders it."""

import base64
import os
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from fastapi import FastAPI
from fastapi import Request
from mangum import Mangum

app = FastAPI()
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
def list_items(request: Request, limit: int = 20) -> dict[str, Any]:
    sub = request.scope["aws.event"]["requestContext"]["authorizer"]["claims"]["sub"]
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


# API Gateway's REST event, as deployed with a stage: Mangum strips nothing unless told (api_gateway_base_path).
handler = Mangum(app, lifespan="off")
