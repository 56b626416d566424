"""DynamoDB's attribute-value JSON for record values (chalicelib/store/dynamodb_json.py), held to boto3's
TypeSerializer and TypeDeserializer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from chalicelib.store.dynamodb_json import deserialize
from chalicelib.store.dynamodb_json import serialize

integers = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
scalars = st.none() | st.booleans() | integers | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def boto3_codec():
    from boto3.dynamodb.types import TypeDeserializer
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def plain(value):
    """boto3's numbers are Decimals: as records hold them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@settings(deadline=None)  # the first example imports boto3
@given(values)
def test_a_record_value_is_written_as_boto3s_serializer_writes_it(value):
    assert serialize(value) == boto3_codec()[0].serialize(value)


@settings(deadline=None)  # the first example imports boto3
@given(values)
def test_an_attribute_reads_back_as_boto3s_deserializer_reads_it_with_numbers_as_ints(value):
    attribute = boto3_codec()[0].serialize(value)

    assert deserialize(attribute) == plain(boto3_codec()[1].deserialize(attribute)) == value


@settings(deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20))
def test_a_decimal_is_written_as_boto3s_serializer_writes_it(number):
    assert serialize(number) == boto3_codec()[0].serialize(number)


@given(st.floats(min_value=-1e12, max_value=1e12).filter(lambda number: number == 0 or abs(number) > 1e-100))
def test_a_float_boto3_would_refuse_is_written_exactly_and_reads_back_equal(number):
    attribute = serialize(number)

    assert Decimal(attribute["N"]) == Decimal(repr(number))
    assert deserialize(attribute) == number


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**38, b"bytes", {1, 2}])
def test_a_value_dynamodb_or_a_record_cannot_hold_is_refused(value):
    with pytest.raises(TypeError):
        serialize(value)


@pytest.mark.parametrize("attribute", [{"B": "Ynl0ZXM="}, {"NS": ["1"]}])
def test_an_attribute_of_a_kind_records_never_hold_is_refused(attribute):
    with pytest.raises(TypeError):
        deserialize(attribute)
