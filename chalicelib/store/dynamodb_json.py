"""DynamoDB's attribute-value JSON for the values records hold (str, int, float, bool, None, lists and dicts
of those): ``{"S": ...}``, ``{"N": ...}``, ``{"BOOL": ...}``, ``{"NULL": true}``, ``{"L": [...]}``,
``{"M": {...}}``; and string sets (``{"SS": [...]}``, read as sorted lists: the store writes them only as an
Update's set clauses). Both DynamoDB transports speak it, so reading a record imports no boto3; the tests hold
it to boto3's TypeSerializer and TypeDeserializer.
"""

from __future__ import annotations

from decimal import Clamped
from decimal import Context
from decimal import Decimal
from decimal import Inexact
from decimal import Overflow
from decimal import Rounded
from decimal import Underflow
from typing import Any

# DynamoDB's number: 38 significant digits, exponent within -130..125 (boto3's DYNAMODB_CONTEXT).
_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def serialize(value: Any) -> dict[str, Any]:
    """A record attribute's value as DynamoDB's wire format writes it (``{"S": ...}``, ``{"N": ...}``, ...)."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {str(name): serialize(item) for name, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    raise TypeError(f"a record holds no {type(value).__name__}: {value!r}")


def _number(value: int | float | Decimal) -> str:
    try:
        number = _NUMBERS.create_decimal(repr(value) if isinstance(value, float) else value)
    except ArithmeticError as exc:
        raise TypeError(f"DynamoDB cannot hold the number {value!r}") from exc
    if not number.is_finite():
        raise TypeError(f"DynamoDB cannot hold the number {value!r}")
    return str(number)


def deserialize(attribute: dict[str, Any]) -> Any:
    """The value a DynamoDB attribute holds, numbers as int (integral) or float."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: deserialize(item) for name, item in value.items()}
    if kind == "L":
        return [deserialize(item) for item in value]
    if kind == "SS":  # written by an Update's add_to_set; a record holds it as a sorted list
        return sorted(value)
    raise TypeError(f"a record holds no DynamoDB {kind} attribute")
