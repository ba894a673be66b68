"""What every device twin shares: parameter records with units and presets, tensor plumbing."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch


def param(default: Any, unit: str, doc: str) -> Any:
    """A dataclass field carrying its unit and meaning (read by docs, reports and netlists)."""
    return dataclasses.field(default=default, metadata={"unit": unit, "doc": doc})


class DeviceParams:
    """Mixin for frozen parameter dataclasses.

    Field names are the subcircuit's parameter names: :meth:`spice_params` hands them to a
    netlist unchanged, so the twin and ngspice read one record. Subclasses list named parameter
    sets in ``PRESETS`` (name -> dict of overrides, with provenance in the class docstring).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    #: fields that are not subcircuit parameters (e.g. twin-only settings)
    TWIN_ONLY: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def preset(cls, name: str):
        if name not in cls.PRESETS:
            raise ValueError(
                f"{cls.__qualname__} preset {name!r} is unknown; known presets: "
                + ", ".join(map(repr, cls.PRESETS))
            )
        return cls(**cls.PRESETS[name])

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    def spice_params(self) -> dict[str, float]:
        """Subcircuit parameters: every numeric field except TWIN_ONLY ones, by field name."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in self.TWIN_ONLY:
                continue
            value = getattr(self, f.name)
            out[f.name] = float(value)
        return out

    @classmethod
    def describe(cls) -> list[tuple[str, Any, str, str]]:
        """(name, default, unit, meaning) for every field, for reports and docs."""
        return [
            (f.name, f.default, f.metadata.get("unit", ""), f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)
        ]


def as_like(value: Any, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor on the device and in the dtype of ``like`` (broadcastable)."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


class Twin(torch.nn.Module):
    """Base of the device twins: holds one ``Params`` record (``Twin.Params`` names its class)."""

    Params: ClassVar[type] = DeviceParams

    def __init__(self, params=None):
        super().__init__()
        self.params = params if params is not None else self.Params()
        if not isinstance(self.params, self.Params):
            raise ValueError(
                f"{type(self).__name__} expects {type(self).__name__}.Params "
                f"({self.Params.__name__}), got {type(self.params).__name__}"
            )

    @classmethod
    def preset(cls, name: str):
        """Named parameter set (see ``Params.PRESETS``), returned as a ``Params`` record."""
        return cls.Params.preset(name)
