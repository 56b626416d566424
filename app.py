"""The Chalice app: its routes, authorizer, middleware and queue consumers, each handing off to chalicelib.

Read it as the API's table of contents; the code behind each route lives in chalicelib/web/api.py, the
code behind each consumer in chalicelib/consumers.py, and chalicelib/wiring.py builds what both use.
"""

import sys

from chalice import Chalice

from chalicelib import consumers
from chalicelib import wiring
from chalicelib.auth.authorizer import PLACEHOLDER_USER_POOL_ARN
from chalicelib.auth.authorizer import CognitoAuthorizer
from chalicelib.auth.authorizer import silence_local_mode_warning
from chalicelib.events.base import ACTIVITY
from chalicelib.events.base import ALARMS
from chalicelib.events.base import DEAD_LETTERS
from chalicelib.events.base import TABLE_STREAM
from chalicelib.vocabulary import ASSISTANT_STREAM_PATH
from chalicelib.vocabulary import CONSOLE_FILE_PATH
from chalicelib.vocabulary import CONSOLE_PATH
from chalicelib.vocabulary import HTTP_METHODS
from chalicelib.vocabulary import LOGOUT_PATH
from chalicelib.vocabulary import OAUTH_AUTHORIZE_PATH
from chalicelib.vocabulary import OAUTH_TOKEN_PATH
from chalicelib.vocabulary import SLACK_COMMAND_PATH
from chalicelib.vocabulary import UNROUTED_PATH
from chalicelib.web import api
from chalicelib.web import middleware

app = Chalice(app_name="tasks-api")
# JSON and server-sent events only: with no binary media types API Gateway never base64-encodes a body, and
# Chalice has none to compare each response's Content-Type with (docs/PERFORMANCE.md, figure 2).
app.api.binary_types = []

# The consumers: Lambda invokes them from the table's stream and from SQS (the handlers at the end of this
# file); locally the embedded change feed and queue (chalicelib/events) deliver to the same functions.
wiring.declare_consumers(
    {TABLE_STREAM: consumers.forward, ACTIVITY: consumers.activity, DEAD_LETTERS: consumers.dead_letters}
)

# The stack replaces the placeholder with its user pool (cloudformation/). Locally the app
# verifies every token itself (chalicelib/auth), since chalice local does not.
cognito = CognitoAuthorizer("CognitoAuthorizer", provider_arns=[PLACEHOLDER_USER_POOL_ARN])
# `chalice local` warns on every request that it admits this authorizer's requests unverified: the app
# verifies the token itself, so the program (not the library module, on import) silences that one warning.
silence_local_mode_warning()
# `chalice local` (and the test client) match a greedy path as API Gateway does, so a path no route serves
# reaches the app there too (the last route below). Lambda never loads chalice.local: nothing there.
if "chalice.local" in sys.modules:
    from chalicelib.web.local_gateway import serve_unrouted_paths  # lazy: local gateway only, never in Lambda
    from chalicelib.web.local_gateway import stream_assistant_answers

    serve_unrouted_paths()
    stream_assistant_answers()  # and POST /assistant/stream streams, as deployed

# Bodies are parsed as JSON whatever their Content-Type (non-JSON is a 400 problem); without this
# Chalice would answer anything but application/json with its own 415.
ANY = ["*/*"]


@app.middleware("http")
def http_middleware(event, get_response):
    return middleware.handle(event, get_response, app.routes)


@app.route("/health", methods=["GET"], content_types=ANY)
def health():
    return api.health()


@app.route("/openapi.json", methods=["GET"], content_types=ANY)
def openapi():
    return api.openapi_document(app.routes)


@app.route("/me", methods=["OPTIONS"], content_types=ANY)
def me_preflight():
    return api.preflight(app.routes)


@app.route("/me", methods=["GET"], authorizer=cognito, content_types=ANY)
def get_me():
    return api.get_me()


@app.route("/me", methods=["PATCH"], authorizer=cognito, content_types=ANY)
def patch_me():
    return api.patch_me()


@app.route("/items", methods=["OPTIONS"], content_types=ANY)
def items_preflight():
    return api.preflight(app.routes)


@app.route("/items", methods=["GET"], authorizer=cognito, content_types=ANY)
def list_items():
    return api.list_items()


@app.route("/items", methods=["POST"], authorizer=cognito, content_types=ANY)
def create_item():
    return api.create_item()


@app.route("/items/{item_id}", methods=["OPTIONS"], content_types=ANY)
def item_preflight(item_id):
    return api.preflight(app.routes)


@app.route("/items/{item_id}", methods=["GET"], authorizer=cognito, content_types=ANY)
def get_item(item_id):
    return api.get_item(item_id)


@app.route("/items/{item_id}", methods=["PATCH"], authorizer=cognito, content_types=ANY)
def patch_item(item_id):
    return api.patch_item(item_id)


@app.route("/items/{item_id}", methods=["DELETE"], authorizer=cognito, content_types=ANY)
def delete_item(item_id):
    return api.delete_item(item_id)


@app.route("/stats", methods=["OPTIONS"], content_types=ANY)
def stats_preflight():
    return api.preflight(app.routes)


@app.route("/stats", methods=["GET"], authorizer=cognito, content_types=ANY)
def get_stats():
    return api.get_stats()


@app.route("/activity", methods=["OPTIONS"], content_types=ANY)
def activity_preflight():
    return api.preflight(app.routes)


@app.route("/activity", methods=["GET"], authorizer=cognito, content_types=ANY)
def list_activity():
    return api.list_activity()


@app.route("/assistant", methods=["OPTIONS"], content_types=ANY)
def assistant_preflight():
    return api.preflight(app.routes)


@app.route("/assistant", methods=["POST"], authorizer=cognito, content_types=ANY)
def ask_assistant():
    return api.ask_assistant()


# Deployed, the stack points this path at the streaming function (chalicelib/streaming), which sends
# each event as it is produced; here (chalice local, the test client) the same events arrive buffered.
@app.route(ASSISTANT_STREAM_PATH, methods=["OPTIONS"], content_types=ANY)
def assistant_stream_preflight():
    return api.preflight(app.routes)


@app.route(ASSISTANT_STREAM_PATH, methods=["POST"], authorizer=cognito, content_types=ANY)
def stream_assistant():
    return api.stream_assistant()


# Slack's slash command (docs/OPERATIONS.md "Chat commands"): public to API Gateway, accepted only when Slack
# signed it, from an allowed user or channel (chalicelib/web/chat.py).
@app.route(SLACK_COMMAND_PATH, methods=["POST"], content_types=ANY)
def slack_command():
    return api.slack_command()


# The console (docs/DESIGN.md "The console's sign-in"). Locally the app serves its page and the development
# issuer's OAuth endpoints (Cognito's hosted-UI ones) on the API's own origin; wherever AUTH_ISSUER is set they
# answer 404 (deployed, the page is on CloudFront and signs in at Cognito). Public, and in no OpenAPI document.
@app.route("/", methods=["GET"], content_types=ANY)
def console_home():
    return api.console_home()


@app.route(CONSOLE_PATH, methods=["GET"], content_types=ANY)
def console_index():
    return api.console_file(None)


@app.route(CONSOLE_FILE_PATH, methods=["GET"], content_types=ANY)
def console_file(name):
    return api.console_file(name)


@app.route(OAUTH_AUTHORIZE_PATH, methods=["GET", "POST"], content_types=ANY)
def oauth_authorize():
    return api.oauth_authorize()


@app.route(OAUTH_TOKEN_PATH, methods=["POST"], content_types=ANY)
def oauth_token():
    return api.oauth_token()


@app.route(LOGOUT_PATH, methods=["GET"], content_types=ANY)
def oauth_logout():
    return api.oauth_logout()


# A request no route above serves, on another path (404) or with a method its path does not have (405), as a
# problem with the request id. Deployed, the stack sends every such request here (cloudformation/transforms/
# api.py, http_api.py); locally, the local gateway does. Public, and in no OpenAPI document.
@app.route(UNROUTED_PATH, methods=list(HTTP_METHODS), content_types=ANY)
def unrouted():
    return api.unrouted(app.routes)


# The activity pipeline (docs/DESIGN.md): the table's change stream is the outbox; the forwarder sends each
# committed change's events to the activity queue, whose consumer applies them to STATS and ACTIVITY#,
# and what it gives up on reaches the dead letters (cloudformation/ maps these names to the stack's stream
# and queues). Each returns Lambda's partial batch response, so one bad record does not fail its neighbours.
@app.on_dynamodb_record(stream_arn=TABLE_STREAM, batch_size=100, starting_position="TRIM_HORIZON")
def on_table_change(event):
    return consumers.forward(wiring.services(), event.to_dict(), event.context)


@app.on_sqs_message(queue=ACTIVITY, batch_size=10)
def on_activity(event):
    return consumers.activity(wiring.services(), event.to_dict(), event.context)


@app.on_sqs_message(queue=DEAD_LETTERS, batch_size=10)
def on_dead_letter(event):
    return consumers.dead_letters(wiring.services(), event.to_dict(), event.context)


# Chat alerts: the stack subscribes this function to its alarm topic (cloudformation/transforms/notifier.py);
# each alarm state change is posted to the team's Slack channel (off without a webhook).
@app.on_sns_message(topic=ALARMS)
def on_alarm(event):
    return consumers.alarm(wiring.services(), event.to_dict(), event.context)
