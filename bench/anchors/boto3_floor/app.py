"""Anchor: the bare Chalice app plus a DynamoDB client made at import, the floor of any DynamoDB-backed
Chalice app; ``/items`` adds the one Query a list route cannot answer without, shaped like the app's."""

import os

import boto3
from chalice import Chalice

app = Chalice(app_name="bench-boto3-floor")
dynamodb = boto3.client("dynamodb")


@app.route("/")
def index():
    return {"hello": "world"}


@app.route("/items")
def items():
    # The same request the app's GET /items sends: one partition, newest first, a page plus one.
    found = dynamodb.query(
        TableName=os.environ["TABLE_NAME"],
        ConsistentRead=True,
        ScanIndexForward=False,
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
        ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
        ExpressionAttributeValues={":pk": {"S": "USER#anchor"}, ":prefix": {"S": "ITEM#"}},
        Limit=21,
    )
    return {"count": found["Count"]}
