"""Kubernetes quantities in the API server's canonical spelling.

Takes a well-formed quantity string (`0.5`, `1000m`, `2048Mi`, `1e3`); returns the string the server
would store (`500m`, `1`, `2Gi`, `1e3`), following k8s.io/apimachinery `Quantity.String()`: binary
amounts use the largest power of 1024 that divides them exactly (below 1024, or when not whole, they
are written as decimal SI); decimal amounts use the largest power of 1000 that leaves a whole number;
precision below nano is rounded up. specc emits canonical quantities so a live object compares equal
to the desired one without asking the server. `quantity_problem` bounds a quantity before anything
computes with it: apimachinery caps a quantity at 2^63-1 (k8s.io/apimachinery pkg/api/resource
quantity.go, "no quantity may represent a number greater than 2^63-1 in magnitude"), and an exponent
such as `1e99999999999` would otherwise make exact arithmetic run for ever. Pure.
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
MAX_VALUE = 2**63 - 1
_MAX_EXPONENT = 30  # beyond 1e30 (or below 1e-30) no value is within apimachinery's range or precision


def quantity_problem(text: str) -> str | None:
    """Why a well-formed quantity cannot be used (too long, too large), or None. Never slow."""
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long; a quantity has at most {MAX_LENGTH}"
    match = _FORM.match(text)
    if match is None:
        return None  # the pattern's own message says what is wrong
    number, suffix = match.group(1), match.group(2) or ""
    if _exponent_form(suffix) and abs(int(suffix[1:])) > _MAX_EXPONENT:
        return f"has an exponent beyond ±{_MAX_EXPONENT}; Kubernetes stores at most {MAX_VALUE} (2^63-1)"
    value = abs(_value(number, suffix))
    if value > MAX_VALUE:
        return f"is larger than Kubernetes can store ({MAX_VALUE}, 2^63-1)"
    return None


def _value(number: str, suffix: str) -> Fraction:
    value = Fraction(number)
    scale: int
    if suffix in _BINARY:
        scale = 1024 ** _BINARY[suffix]
        return value * scale
    exponent = int(suffix[1:]) if _exponent_form(suffix) else _DECIMAL[suffix]
    scale = 10 ** abs(exponent)
    return value * scale if exponent >= 0 else value / scale


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
