"""Kubernetes quantities in the API server's canonical spelling.

Takes a well-formed quantity string (`0.5`, `1000m`, `2048Mi`, `1e3`); returns the string the server
would store (`500m`, `1`, `2Gi`, `1e3`), following k8s.io/apimachinery `Quantity.String()`: binary
amounts use the largest power of 1024 that divides them exactly (below 1024, or when not whole, they
are written as decimal SI); decimal amounts use the largest power of 1000 that leaves a whole number;
precision below nano is rounded up. specc emits canonical quantities so a live object compares equal
to the desired one without asking the server. Pure.
"""

from __future__ import annotations

import re
from fractions import Fraction

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_FORM = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


def canonical_quantity(text: str) -> str:
    match = _FORM.match(text)
    if match is None:
        return text
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
    if suffix[:1] in ("e", "E"):
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
