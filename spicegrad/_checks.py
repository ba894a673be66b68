"""Input checks shared by parameter records, twins and the netlist writer.

Every check raises ``ValueError`` whose message names the offending field, the value received
and what would be allowed, so a user can fix the call without reading a traceback.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where a tensor is checked: the command line's parsers import this module
    import torch


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def require_finite(owner: str, name: str, value: object) -> float:
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"{owner}.{name} = {value!r}: must be a finite real number")
    return float(value)


def require_positive(owner: str, name: str, value: object) -> float:
    v = require_finite(owner, name, value)
    if v <= 0:
        raise ValueError(f"{owner}.{name} = {value!r}: must be > 0")
    return v


def require_range(
    owner: str,
    name: str,
    value: object,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    v = require_finite(owner, name, value)
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if below or above:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ValueError(f"{owner}.{name} = {value!r}: must lie in {left}{lo:g}, {hi:g}{right}")
    return v


def require_choice(owner: str, name: str, value: object, allowed: tuple) -> object:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} = {value!r}: must be one of {', '.join(map(repr, allowed))}")
    return value


def has_values(value: torch.Tensor) -> bool:
    """False for a meta tensor (a shape and dtype without data, for shape inference): checks on
    values, and warnings computed from them, are skipped for it."""
    return value.device.type != "meta"


def require_finite_tensor(owner: str, name: str, value: torch.Tensor) -> torch.Tensor:
    import torch

    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{owner}.{name}: expected a torch.Tensor, got {type(value).__name__}")
    if not has_values(value):
        return value
    if not torch.isfinite(value).all():
        bad = (~torch.isfinite(value)).nonzero()[0].tolist()
        raise ValueError(
            f"{owner}.{name} contains a non-finite value ({value[tuple(bad)].item()!r} at index "
            f"{tuple(bad)}): every sample must be finite"
        )
    return value


def require_dt(owner: str, dt: object) -> float:
    return require_positive(owner, "dt", dt)


def check_fields(record: object, rules: dict) -> None:
    """Apply ``rules`` {field: callable(owner, name, value)} to a dataclass instance (the
    common rules: :func:`finite`, :func:`positive`, :func:`non_negative`)."""
    owner = type(record).__qualname__
    for name, rule in rules.items():
        rule(owner, name, getattr(record, name))


# rules for check_fields: rule(owner, name, value) raises naming the field, or returns


def finite(owner: str, name: str, value: object) -> None:
    require_finite(owner, name, value)


def positive(owner: str, name: str, value: object) -> None:
    require_positive(owner, name, value)


def non_negative(owner: str, name: str, value: object) -> None:
    require_range(owner, name, value, 0.0, math.inf)

