"""Anchor: the bare Chalice app plus a DynamoDB client made at import, the floor of any DynamoDB-backed
Chalice app; ``/item`` adds the one GetItem such an app cannot answer a read without."""

import os

import boto3
from chalice import Chalice

app = Chalice(app_name="bench-boto3-floor")
dynamodb = boto3.client("dynamodb")


@app.route("/")
def index():
    return {"hello": "world"}


@app.route("/item")
def item():
    found = dynamodb.get_item(TableName=os.environ["TABLE_NAME"],
                              Key={"PK": {"S": "ANCHOR"}, "SK": {"S": "ANCHOR"}})
    return {"found": "Item" in found}
