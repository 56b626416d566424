"""openapi.json: generated from the route table and the validating schemas, complete and truthful."""

from __future__ import annotations

from chalicelib.vocabulary import LOCAL_ONLY_PATHS
from chalicelib.vocabulary import UNROUTED_PATH


def test_openapi_is_public_and_documents_every_route_but_the_answer_to_unrouted_requests_and_the_local_ones(api):
    from app import app

    reply = api.get("/openapi.json", user=None)
    assert reply.status == 200
    doc = reply.json
    assert doc["openapi"].startswith("3.")
    declared = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    # The catch-all route answers 404/405 for requests no route serves: no operation of the API; nor are the
    # console's page and the local issuer's OAuth endpoints, which only a local setup serves.
    assert UNROUTED_PATH in app.routes and UNROUTED_PATH not in doc["paths"]
    assert set(LOCAL_ONLY_PATHS) <= set(app.routes) and not set(LOCAL_ONLY_PATHS) & set(doc["paths"])
    assert documented == {(path, method) for path, method in declared if path not in (UNROUTED_PATH, *LOCAL_ONLY_PATHS)}


def test_openapi_request_schemas_are_the_validating_ones(api):
    doc = api.get("/openapi.json", user=None).json
    create = doc["components"]["schemas"]["ItemCreate"]
    assert create["required"] == ["title"]
    assert create["properties"]["title"]["maxLength"] == 200
    assert create["properties"]["tags"]["maxItems"] == 10
    assert set(create["properties"]) == {"title", "notes", "status", "due", "tags"}


def test_protected_operations_document_401_and_the_bearer_scheme(api):
    doc = api.get("/openapi.json", user=None).json
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            public = op.get("security") == []
            if public:  # no bearer token; a 401 only for a signature refused (Slack's slash command)
                refused = op["responses"].get("401", {"description": "invalid_signature"})["description"]
                assert "invalid_signature" in refused, (method, path)
            else:
                assert "Bearer" in op["responses"]["401"]["description"], (method, path)
            assert "500" in op["responses"]


def test_documented_statuses_include_those_the_route_really_answers(api):
    doc = api.get("/openapi.json", user=None).json
    item = api.create()
    observed = {
        ("/items/{item_id}", "patch"): api.patch(
            f"/items/{item['id']}", {"title": "x"}, headers={"If-Match": '"9"'}
        ).status,
        ("/items", "post"): api.post("/items", {"title": ""}).status,
        ("/items/{item_id}", "get"): api.get("/items/nope").status,
        ("/items", "get"): api.get("/items?limit=0").status,
        ("/activity", "get"): api.get("/activity?limit=0").status,
    }
    for (path, method), status in observed.items():
        assert str(status) in doc["paths"][path][method]["responses"]


def test_an_undocumented_route_fails_loudly():
    import pytest

    from chalicelib.web.openapi import document

    with pytest.raises(LookupError):
        document({"/secret": {"GET": object()}})


def test_stats_and_activity_are_documented_with_their_response_schemas(api):
    from chalicelib.tasks.activity import COUNTERS

    doc = api.get("/openapi.json", user=None).json
    schemas = doc["components"]["schemas"]
    stats = doc["paths"]["/stats"]["get"]
    assert stats["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Stats")
    assert set(schemas["Stats"]["required"]) == {*COUNTERS, "updated_at"}
    activity = doc["paths"]["/activity"]["get"]
    assert activity["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ActivityPage")
    assert schemas["ActivityPage"]["required"] == ["events", "next_cursor"]
    assert schemas["ActivityEvent"]["required"] == ["id", "type", "item_id", "at"]
    assert {p["name"] for p in activity["parameters"] if p["in"] == "query"} == {"limit", "cursor"}
    for operation in (stats, activity):
        assert {"401", "503"} <= set(operation["responses"])
    assert "400" in activity["responses"]
    assert {"options"} <= set(doc["paths"]["/stats"]) and {"options"} <= set(doc["paths"]["/activity"])


def test_the_stream_operation_names_the_function_url_as_its_server_when_one_is_set(api, env):
    from chalicelib.vocabulary import ASSISTANT_STREAM_PATH

    plain = api.get("/openapi.json", user=None).json
    assert "servers" not in plain["paths"][ASSISTANT_STREAM_PATH]["post"]
    env(ASSISTANT_STREAM_URL="https://abcdefghijklmnop.lambda-url.us-east-1.on.aws/")
    doc = api.get("/openapi.json", user=None).json
    [server] = doc["paths"][ASSISTANT_STREAM_PATH]["post"]["servers"]
    assert server["url"] == "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws"  # + the path: the endpoint
    assert doc["servers"] == [{"url": "/"}]  # every other operation stays on the API's origin
    others = [op for path, ops in doc["paths"].items() if path != ASSISTANT_STREAM_PATH for op in ops.values()]
    assert all("servers" not in op for op in others)
    assert "servers" not in doc["paths"][ASSISTANT_STREAM_PATH]["options"]


def test_the_stream_url_setting_is_an_http_origin_or_a_configuration_error():
    import pytest

    from chalicelib.settings import ConfigError
    from chalicelib.settings import Settings

    url = Settings.from_env({"ASSISTANT_STREAM_URL": " https://x.lambda-url.eu-west-1.on.aws/ "}).assistant_stream_url
    assert url == "https://x.lambda-url.eu-west-1.on.aws"
    assert Settings.from_env({}).assistant_stream_url is None
    for bad in ("x.lambda-url.eu-west-1.on.aws", "ftp://host", "https://host/assistant/stream", "https://host?q"):
        with pytest.raises(ConfigError, match="ASSISTANT_STREAM_URL"):
            Settings.from_env({"ASSISTANT_STREAM_URL": bad})
