"""A request no route serves: a path no route has is a 404 problem, a method its path does not have a 405
problem with ``Allow``, both with the request id, with or without a token. Through Chalice's test client
(its local gateway alone answers 403 Missing Authentication Token), and through the Lambda handler on the
events each stack's own routing sends: the REST API's resources and methods, the HTTP API's routes, read
from the templates the transforms build from app.py's route table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.deploy.swagger import TemplatedSwaggerGenerator

from chalicelib.vocabulary import UNROUTED_PATH
from cloudformation.template import clone
from cloudformation.transforms import api as rest_api
from cloudformation.transforms import http_api
from tests.cloudformation.support.expected import input_of
from tests.support.api import Reply
from tests.support.api import assert_problem
from tests.support.invoke import LambdaContext
from tests.support.invoke import http_event
from tests.support.invoke import rest_event

# The root is served (GET: to the console, locally), so it is a method it lacks that reaches the app unrouted.
UNSERVED_PATHS = ["/nope", "/nope/deeper/still", "/items/some-id/extra", "/health/x"]
# (method, path, Allow): a method the path's route does not have.
UNSERVED_METHODS = [
    ("POST", "/", "GET"),
    ("PUT", "/items", "OPTIONS, GET, POST"),
    ("DELETE", "/health", "GET"),
    ("POST", "/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", "OPTIONS, GET, PATCH, DELETE"),
]


# --- Chalice's test client (its local gateway, as `chalice local`) -----------------------------------


@pytest.mark.parametrize("path", UNSERVED_PATHS)
@pytest.mark.parametrize("user", [None, "alice"])
def test_a_path_no_route_serves_is_a_404_problem_with_the_request_id(api, path, user):
    reply = api.get(path, user=user, headers={"X-Request-Id": "req-unrouted"})
    problem = assert_problem(reply, 404, "not_found")
    assert problem["request_id"] == "req-unrouted"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_on_a_path_no_route_serves_is_a_404(api, method):
    reply = api.call(method, "/nope/deeper")
    assert reply.status == 404
    if method != "HEAD":
        assert_problem(reply, 404, "not_found")


@pytest.mark.parametrize(("method", "path", "allow"), UNSERVED_METHODS)
def test_a_method_its_path_does_not_have_is_a_405_problem_with_allow(api, method, path, allow):
    reply = api.call(method, path)
    assert_problem(reply, 405, "method_not_allowed")
    assert reply.header("Allow") == allow


def test_a_request_no_route_serves_leaves_the_route_table_as_declared(api):
    from app import app

    before = {path: list(methods) for path, methods in app.routes.items()}
    api.get("/nope/x")
    api.call("PUT", "/items")
    assert {path: list(methods) for path, methods in app.routes.items()} == before


# --- the Lambda handler, on the events each stack's routing sends --------------------------------------


@pytest.fixture
def in_lambda(env, recording_queue) -> None:
    env(AWS_LAMBDA_FUNCTION_NAME=LambdaContext.function_name)


def invoke(event: dict[str, Any]) -> Reply:
    from app import app

    answer = app(event, LambdaContext())
    headers = {**answer["headers"], **{k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}}
    return Reply(answer["statusCode"], headers, (answer["body"] or "").encode())


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _match(pattern: str, path: str) -> dict[str, str] | None:
    """The path parameters when ``pattern`` (an API Gateway resource path) matches ``path``."""
    wanted, given = _segments(pattern), _segments(path)
    if wanted and wanted[-1].endswith("+}"):
        head = wanted[:-1]
        if len(given) > len(head) and all(w == g or w.startswith("{") for w, g in zip(head, given, strict=False)):
            return {wanted[-1].strip("{+}"): "/".join(given[len(head) :])}
        return None
    if len(wanted) != len(given):
        return None
    if not all(w == g or (w.startswith("{") and g) for w, g in zip(wanted, given, strict=True)):
        return None
    return {w.strip("{}"): g for w, g in zip(wanted, given, strict=True) if w.startswith("{")}


def _specificity(pattern: str) -> tuple[int, int]:
    return (pattern.endswith("+}"), pattern.count("{"))


def _app_swagger() -> dict[str, Any]:
    from app import app

    # The swagger `chalice package` writes from app.py's route table; its integration URIs are placeholders.
    return json.loads(json.dumps(TemplatedSwaggerGenerator().generate_swagger(app), default=str))


def _rest_template() -> dict[str, Any]:
    properties = {"StageName": "api", "DefinitionBody": _app_swagger()}
    return rest_api.transform({"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": properties}}})


def _http_template() -> dict[str, Any]:
    template = clone(input_of(http_api.transform))
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    swagger = _app_swagger()
    definition["paths"] = swagger["paths"]
    return http_api.transform(template)


def rest_routed_event(paths: dict[str, Any], method: str, path: str, **options: Any) -> dict[str, Any]:
    """The event the REST API sends for ``method path``: the most specific resource that matches (a literal
    segment before a parameter, a greedy resource last), then its method or else its ANY method; failing
    both, API Gateway answers itself (the test fails)."""
    matches = [(pattern, found) for pattern in paths if (found := _match(pattern, path)) is not None]
    assert matches, f"{method} {path}: no resource matches (API Gateway answers it itself)"
    resource, parameters = min(matches, key=lambda match: _specificity(match[0]))
    methods = paths[resource]
    chosen = methods.get(method.lower()) or methods.get(rest_api.ANY_METHOD)
    assert chosen is not None, f"{method} {path}: {resource} has neither the method nor ANY"
    assert "security" not in chosen, "a request no route serves reaches the app without a token check"
    return rest_event(method, path, resource=resource, path_parameters=parameters or None, **options)


def http_routed_event(routes: dict[str, Any], method: str, path: str, resource: str, **options: Any) -> dict:
    """The event the HTTP API sends for ``method path``: the route of that method (or ANY) whose path
    matches, a greedy path last; failing that, API Gateway answers itself (the test fails). ``resource`` is
    what payload 1.0 names as its resource: the route's path (``"route"``), or, as a second guess the app
    must answer as well, the request's path (``"path"``)."""
    matches = []
    for key, route in routes.items():
        route_method, _, route_path = key.partition(" ")
        if route_method in (method, "ANY") and (found := _match(route_path, path)) is not None:
            matches.append((route_path, found, route))
    assert matches, f"{method} {path}: no route matches (API Gateway answers it itself)"
    route_path, parameters, route = min(matches, key=lambda match: _specificity(match[0]))
    assert route["AuthorizationType"] == "NONE", "a request no route serves reaches the app without a token check"
    if resource == "path":
        return http_event(method, path, resource=path, **options)
    return http_event(method, path, resource=route_path, path_parameters=parameters or None, **options)


@pytest.fixture(scope="module")
def rest_paths() -> dict[str, Any]:
    return _rest_template()["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]


@pytest.fixture(scope="module")
def http_routes() -> dict[str, Any]:
    resources = _http_template()["Resources"]
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }


@pytest.mark.parametrize("path", UNSERVED_PATHS)
@pytest.mark.parametrize("token", [False, True])
def test_the_rest_stack_sends_a_path_no_route_serves_to_the_app_which_answers_404(in_lambda, rest_paths, path, token):
    headers = {"X-Request-Id": "req-rest", **({"Authorization": "Bearer x.y.z"} if token else {})}
    reply = invoke(rest_routed_event(rest_paths, "GET", path, headers=headers))
    assert assert_problem(reply, 404, "not_found")["request_id"] == "req-rest"


@pytest.mark.parametrize(("method", "path", "allow"), UNSERVED_METHODS)
def test_the_rest_stack_sends_a_method_its_resource_lacks_to_the_app_which_answers_405(
    in_lambda, rest_paths, method, path, allow
):
    reply = invoke(rest_routed_event(rest_paths, method, path))
    assert_problem(reply, 405, "method_not_allowed")
    assert reply.header("Allow") == allow


@pytest.mark.parametrize("resource", ["route", "path"])
@pytest.mark.parametrize("path", UNSERVED_PATHS)
def test_the_http_stack_sends_a_path_no_route_serves_to_the_app_which_answers_404(
    in_lambda, http_routes, path, resource
):
    event = http_routed_event(http_routes, "GET", path, resource, headers={"X-Request-Id": "req-http"})
    assert assert_problem(invoke(event), 404, "not_found")["request_id"] == "req-http"


@pytest.mark.parametrize("resource", ["route", "path"])
@pytest.mark.parametrize(("method", "path", "allow"), UNSERVED_METHODS)
def test_the_http_stack_sends_a_method_no_route_has_to_the_app_which_answers_405(
    in_lambda, http_routes, method, path, allow, resource
):
    reply = invoke(http_routed_event(http_routes, method, path, resource))
    assert_problem(reply, 405, "method_not_allowed")
    assert reply.header("Allow") == allow


def test_the_http_stack_leaves_every_preflight_to_its_cors_configuration(http_routes):
    # AWS: with CORS configured the HTTP API answers preflights itself; a route taking OPTIONS (a $default
    # route, ANY) would take them instead, and the app would answer 405.
    assert not [key for key in http_routes if key.split(" ")[0] in ("OPTIONS", "ANY", "$default")]


def test_both_stacks_keep_the_catch_all_public(rest_paths, http_routes):
    assert list(rest_paths[UNROUTED_PATH]) == [rest_api.ANY_METHOD]
    assert all(rest_api.ANY_METHOD in methods for methods in rest_paths.values())
    assert not any("security" in methods[rest_api.ANY_METHOD] for methods in rest_paths.values())
    unrouted = {key: route for key, route in http_routes.items() if key.endswith((f" {UNROUTED_PATH}", " /"))}
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    assert set(unrouted) == {f"{method} {path}" for method in methods for path in ("/", UNROUTED_PATH)}
    assert {route["AuthorizationType"] for route in unrouted.values()} == {"NONE"}
