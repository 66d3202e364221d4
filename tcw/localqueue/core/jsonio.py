"""JSON as the real services read and write it, for request bodies, Hawk ``ext`` and every JSON answer.

The real services parse with JavaScript's ``JSON.parse``, which refuses ``NaN`` and ``Infinity`` and knows
one kind of number; Python's ``json`` accepts both constants and would send them back as invalid JSON, which
breaks strict clients. Nesting is bounded here because everything after parsing (checks, storing, echoing
the payload in ``requestInfo``, reading a task back) recurses once per level: a body that got past this
point can never take Python past its recursion limit. No task or upload needs anywhere near this depth.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 128
# JavaScript numbers hold integers exactly up to 2**53; ``3.0`` there is simply 3.
SAFE_INTEGER = 2**53


class InvalidJson(ValueError):
    """Text a strict JSON parser (JavaScript's) would refuse, or nested deeper than ``MAX_DEPTH``."""


def parse(text: bytes | str) -> Any:
    """The JSON value of ``text``, with integral numbers as ints (``1.0`` -> 1, as JavaScript reads it)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_number)
    except RecursionError:
        raise InvalidJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as error:
        raise InvalidJson(f"not UTF-8: {error.reason}") from None
    except InvalidJson:
        raise
    except ValueError as error:
        raise InvalidJson(str(error)) from None
    if _deeper_than(value, MAX_DEPTH):
        raise InvalidJson(f"nested deeper than {MAX_DEPTH} levels")
    return value


def dump(value: Any) -> bytes:
    """Compact JSON for an answer; a NaN or Infinity that slipped in is a bug, never invalid JSON sent."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON value")


def _number(text: str) -> int | float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJson(f"number {text} is out of range")
    if number.is_integer() and abs(number) <= SAFE_INTEGER:
        return int(number)
    return number


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
