"""Kubernetes quantities in the API server's canonical spelling.

Takes a well-formed quantity string (`0.5`, `1000m`, `2048Mi`, `1e3`); returns the string the server
would store (`500m`, `1`, `2Gi`, `1e3`), following k8s.io/apimachinery `Quantity.String()`: binary
amounts use the largest power of 1024 that divides them exactly (below 1024, or when not whole, they
are written as decimal SI); decimal amounts use the largest power of 1000 that leaves a whole number;
precision below nano is rounded up. specc emits canonical quantities so a live object compares equal
to the desired one without asking the server. `quantity_problem` bounds a quantity before anything
computes with it: apimachinery caps a quantity at 2^63-1 (k8s.io/apimachinery pkg/api/resource
quantity.go: "Numbers larger or more precise will be capped or rounded up"), and an exponent
such as `1e99999999999` would otherwise make exact arithmetic run for ever; it is kept to what the JSON
Schema can say (a length and a pattern). Pure.
"""

from __future__ import annotations

import re
from fractions import Fraction

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_FORM = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


MAX_LENGTH = 64  # far longer than any real quantity; keeps every computation on it small
MAX_VALUE = 2**63 - 1  # for numbers written unquoted (the JSON Schema's `maximum`)
MAX_EXPONENT_DIGITS = 2  # `1e99` at most; both bounds are what the JSON Schema can say too


def quantity_problem(text: str) -> str | None:
    """Why a quantity is out of bounds (too long, an exponent of more than two digits), or None.
    Cheap whatever `text` is; called before anything computes with it."""
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long; a quantity has at most {MAX_LENGTH}"
    match = _FORM.match(text)
    if match is not None and _exponent_form(match.group(2) or ""):
        digits = match.group(2)[1:].lstrip("+-")
        if len(digits) > MAX_EXPONENT_DIGITS:
            return (f"has an exponent of {len(digits)} digits; Kubernetes caps quantities at 2^63-1, so an "
                    f"exponent has at most {MAX_EXPONENT_DIGITS}")
    return None


def quantity_range_problem(text: str) -> str | None:
    """Why a well-formed quantity is outside what the API server stores as written (above 2^63-1 it
    is capped, below one nano-unit rounded up: the live value would never match), or None."""
    match = _FORM.match(text) if len(text) <= 4 * MAX_LENGTH else None
    if match is None:
        return None  # not a quantity, or refused by `quantity_problem` already
    number, suffix = match.group(1), match.group(2) or ""
    if _exponent_form(suffix) and len(suffix[1:].lstrip("+-")) > 3:
        return None  # refused by `quantity_problem` (floats written unquoted have at most 3 digits)
    value = abs(Fraction(number))
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
    else:
        exponent = int(suffix[1:]) if _exponent_form(suffix) else _DECIMAL[suffix]
        value = value * 10**exponent if exponent >= 0 else value / 10**-exponent
    if value > MAX_VALUE:
        return f"is larger than Kubernetes can store (2^63-1 = {MAX_VALUE}); the API server would cap it"
    if 0 < value < Fraction(1, 10**9):
        return "is smaller than Kubernetes can store (1n, a billionth); the API server would round it up"
    return None


def _exponent_form(suffix: str) -> bool:
    """`e3`, `E-2`: an exponent; `E` alone is the exa suffix, `Ei` exbi."""
    return len(suffix) > 1 and suffix[0] in "eE" and suffix not in _BINARY


def canonical_quantity(text: str) -> str:
    match = _FORM.match(text)
    if match is None or quantity_problem(text) is not None:
        return text  # validation refuses these; never compute with them
    number, suffix = match.group(1), match.group(2) or ""
    value = Fraction(number)
    if suffix in _BINARY:
        value *= 1024 ** _BINARY[suffix]
        whole = value.denominator == 1
        if not whole or -1024 < value < 1024:
            return _decimal_si(value)
        power = 0
        amount = int(value)
        while power < 6 and amount % 1024 == 0 and amount != 0:
            amount //= 1024
            power += 1
        return f"{amount}{_BINARY_SUFFIX.get(power, '')}"
    if _exponent_form(suffix):
        exponent = int(suffix[1:])
        value *= Fraction(10) ** exponent
        return _decimal_exponent(value)
    value *= Fraction(10) ** _DECIMAL[suffix]
    return _decimal_si(value)


def _round_up_to_nano(value: Fraction) -> Fraction:
    scaled = value * 10**9
    if scaled.denominator != 1:
        # apimachinery rounds away from zero at the nano scale (it never shrinks a request to 0).
        whole = -(-scaled.numerator // scaled.denominator) if value > 0 else scaled.numerator // scaled.denominator
        return Fraction(whole, 10**9)
    return value


def _mantissa_exponent(value: Fraction) -> tuple[int, int]:
    value = _round_up_to_nano(value)
    if value == 0:
        return 0, 0
    exponent = -9
    mantissa = value * 10**9
    assert mantissa.denominator == 1
    amount = int(mantissa)
    while amount % 1000 == 0 and exponent < 18:
        amount //= 1000
        exponent += 3
    return amount, exponent


def _decimal_si(value: Fraction) -> str:
    amount, exponent = _mantissa_exponent(value)
    if amount == 0:
        return "0"
    return f"{amount}{_DECIMAL_SUFFIX[exponent]}"


def _decimal_exponent(value: Fraction) -> str:
    amount, exponent = _mantissa_exponent(value)
    if amount == 0:
        return "0"
    return f"{amount}e{exponent}" if exponent else f"{amount}"
