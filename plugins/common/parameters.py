"""Request parameters that are numbers, read the same whichever way a client could send them.

Clients differ in the parameter types they can send: tritonclient 2.41 refuses Python floats
("The parameter datatype ... is not supported") and so sends ``"0.7"`` as a string, newer
clients and raw gRPC send a double, KServe REST a JSON number. Each is accepted; a bool
(``true`` would read as 1.0) and anything else is refused with a ValueError naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any


def fraction(name: str, value: Any) -> float:
    """``value`` as a number in 0..1: a float, an int or a numeric string; ValueError naming ``name`` otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f'parameter {name!r} must be a number between 0 and 1 (a double, or a string such as "0.7")'
        ) from None
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"parameter {name!r} must be between 0 and 1, got {number}")
    return number
