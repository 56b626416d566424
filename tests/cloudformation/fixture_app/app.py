"""A small Chalice app with every shape the post-processor handles: a public and a protected route
(the placeholder Cognito ARN), the streaming route, the catch-all route, consumers of the activity queue
and its DLQ, and the forwarder of the table's change stream (the placeholder stream ARN).

The consumers and the forwarder are the real app's (same names, queues and stream). The end-to-end
golden (golden/) pins what the whole pipeline builds from it."""

from chalice import Chalice
from chalice import CognitoUserPoolAuthorizer

app = Chalice(app_name="fixture")
cognito = CognitoUserPoolAuthorizer(
    "CognitoAuthorizer", provider_arns=["arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_PLACEHOLDER"]
)


@app.route("/health")
def health():
    return {"status": "ok"}


@app.route("/items", methods=["GET"], authorizer=cognito)
def items():
    return {"items": []}


@app.route("/assistant/stream", methods=["POST"], authorizer=cognito)
def assistant_stream():
    return {}


# The real app's catch-all route (its UNROUTED_PATH): what no other route serves is answered 404/405.
@app.route("/{proxy+}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def unrouted():
    return {}


@app.on_sqs_message(queue="activity", batch_size=10)
def on_activity(event):
    return None


@app.on_sqs_message(queue="activity-dlq", batch_size=10)
def on_dead_letter(event):
    return None


@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/tasks/stream/local",
    batch_size=100,
    starting_position="TRIM_HORIZON",
)
def on_table_change(event):
    return {"batchItemFailures": []}


@app.on_sns_message(topic="alarms")
def on_alarm(event):
    return None
