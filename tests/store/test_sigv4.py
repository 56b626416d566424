"""The standard-library SigV4 signer (chalicelib/store/sigv4.py) signs as botocore does: the same
Authorization header for generated requests, and AWS's published test vectors."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chalicelib.store import sigv4
from chalicelib.store.sigv4 import Credentials
from chalicelib.store.sigv4 import Signer

# AWS's SigV4 test suite, as botocore keeps it (github.com/boto/botocore, commit
# 0e6e2404b85dc336dd2889814e089bde7d1a4c55, tests/unit/auth/aws4_testsuite/<name>/<name>.req and .authz;
# Apache-2.0, see that directory's LICENSE and NOTICE). Credentials and scope are the suite's.
VECTOR_CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
VECTOR_DATE = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
VECTORS = {
    "get-vanilla": (
        "GET",
        "/",
        [],
        {},
        b"",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "get-vanilla-query-order-key-case": (
        "GET",
        "/",
        [("Param2", "value2"), ("Param1", "value1")],
        {},
        b"",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    "get-vanilla-query-unreserved": (
        "GET",
        "/",
        [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",) * 2],
        {},
        b"",
        "host;x-amz-date",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    ),
    "post-vanilla-query": (
        "POST",
        "/",
        [("Param1", "value1")],
        {},
        b"",
        "host;x-amz-date",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    "post-x-www-form-urlencoded": (
        "POST",
        "/",
        [],
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_signer_gives_the_published_sigv4_test_vectors_signatures(name):
    method, path, query, headers, body, signed_headers, signature = VECTORS[name]
    signer = Signer("us-east-1", "service")

    added = signer.sign(method, "example.amazonaws.com", path, query, headers, body, VECTOR_CREDENTIALS, VECTOR_DATE)

    assert added["X-Amz-Date"] == "20150830T123600Z"
    assert added["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


def test_a_session_token_is_sent_and_signed_as_in_the_published_vector():
    token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
    credentials = Credentials(VECTOR_CREDENTIALS.access_key, VECTOR_CREDENTIALS.secret_key, token)

    added = Signer("us-east-1", "service").sign(
        "GET", "example.amazonaws.com", "/", [], {}, b"", credentials, VECTOR_DATE
    )

    assert added["X-Amz-Security-Token"] == token
    assert added["Authorization"].endswith(
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
    )


def botocore_signature(method, url, query, headers, body, credentials, region, service, when):
    """What botocore's own signer adds to the same request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotocoreCredentials

    request = AWSRequest(method=method, url=url, params=list(query), headers=dict(headers), data=body)
    signer = SigV4Auth(BotocoreCredentials(*credentials), service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        signer.add_auth(request)
    return {
        name: request.headers[name]
        for name in ("X-Amz-Date", "X-Amz-Security-Token", "Authorization")
        if name in request.headers
    }


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
segment = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="/?#%"), max_size=8)
header_name = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(lambda name: name.lower() != "host")
header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20).filter(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    segments=st.lists(segment, max_size=4),
    trailing=st.booleans(),
    query=st.lists(st.tuples(text, text), max_size=4),
    headers=st.dictionaries(header_name, header_value, max_size=5),
    body=st.binary(max_size=64),
    token=st.none()
    | st.text(st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    service=st.sampled_from(["dynamodb", "sqs", "service"]),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_the_signer_adds_the_headers_botocores_signer_adds_to_the_same_request(
    method, segments, trailing, query, headers, body, token, region, service, when
):
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    when = when.replace(tzinfo=UTC)
    host = f"{service}.{region}.amazonaws.com"

    ours = Signer(region, service).sign(method, host, path, query, headers, body, credentials, when)

    assert ours == botocore_signature(
        method, f"https://{host}{path}", query, headers, body, credentials, region, service, when
    )


def test_the_signing_key_is_derived_once_per_day_not_once_per_request():
    signer = Signer("eu-west-1", "dynamodb")
    with mock.patch("chalicelib.store.sigv4._hmac", wraps=sigv4._hmac) as derive:
        for _ in range(3):
            signer.sign("POST", "h", "/", [], {}, b"{}", VECTOR_CREDENTIALS, VECTOR_DATE)
        signer.sign("POST", "h", "/", [], {}, b"{}", VECTOR_CREDENTIALS, VECTOR_DATE.replace(day=31))

    assert derive.call_count == 8  # four HMACs for each of the two days
