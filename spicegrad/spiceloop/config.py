"""The SPICE-in-the-loop experiment's configuration (no numpy or torch: the command line's
parser reads its defaults). The experiment itself is :mod:`spicegrad.spiceloop.experiment`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .._checks import non_negative, require_positive
from ..crossbar.periphery import ADC, TIA, AccessTransistor, Periphery
from ..errors import InputError

#: the periphery of the experiment: the records' defaults (periphery.lib) but a 3 kΩ TIA feedback
#: (choice: sized so the largest layer-1 column currents, ≈ 0.3 mA, reach the 1 V swing; with
#: 10 kΩ most columns of a trained network saturate on their common-mode current)
DEFAULT_PERIPHERY = Periphery(access=AccessTransistor(), tia=TIA(r_f=3e3), adc=ADC())


#: largest seed: the batch order of epoch e draws from seed·1000 + e (a 64-bit generator seed)
MAX_SEED = 2**31 - 1
#: largest wire resistance per segment, Ω
MAX_R_WIRE = 1e3


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run depends on (recorded in its checkpoint and metrics)."""

    dataset: str = "fashion-mnist"
    image_size: int = 8
    train: int = 6000
    validation: int = 1000
    test: int | None = None
    hidden: int = 16
    epochs: int = 20
    batch: int = 64
    lr: float = 1e-2
    v_read: float = 0.2
    temperature: float = 0.03
    hidden_scale: float | None = 0.3
    g_min: float = 1e-6
    g_max: float = 1e-4
    w_max: float = 1.0
    w_init: float = 0.3
    r_wire: float = 0.0
    periphery: dict = field(default_factory=DEFAULT_PERIPHERY.to_dict)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("image_size", "train", "validation", "hidden", "epochs", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} = {value!r}: must be a positive integer")
        if self.test is not None and (isinstance(self.test, bool) or not isinstance(self.test, int) or self.test < 1):
            raise InputError(f"test = {self.test!r}: must be a positive integer or None (the whole test split)")
        for name in ("lr", "v_read", "temperature", "g_min", "g_max", "w_max", "w_init"):
            require_positive("ExperimentConfig", name, getattr(self, name))
        if self.hidden_scale is not None:
            require_positive("ExperimentConfig", "hidden_scale", self.hidden_scale)
        non_negative("ExperimentConfig", "r_wire", self.r_wire)
        if self.r_wire > MAX_R_WIRE:
            raise InputError(f"r_wire = {self.r_wire!r} Ω: a wire segment of more than {MAX_R_WIRE:g} Ω is not a wire")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"seed = {self.seed!r}: must be an integer from 0 to {MAX_SEED}")
        if not isinstance(self.dataset, str):
            raise InputError(f"dataset = {self.dataset!r}: must be a dataset name such as 'fashion-mnist'")
        if self.g_max <= self.g_min:
            raise InputError(f"g_max = {self.g_max!r} S must exceed g_min = {self.g_min!r} S")
        if self.periph.tia is None:
            raise InputError("the experiment reads its crossbars in volts: the periphery needs a TIA")
        if self.hidden_scale is not None and self.hidden_scale > self.full_scale:
            raise InputError(f"hidden_scale = {self.hidden_scale!r} V exceeds the read-out's full scale "
                             f"{self.full_scale:g} V: layer 1 cannot reach it")

    @property
    def periph(self) -> Periphery:
        return Periphery.from_dict(self.periphery)

    @property
    def full_scale(self) -> float:
        """The hidden layer's clip (V): the ADC's full scale, else the TIA's swing."""
        p = self.periph
        return p.adc.full_scale if p.adc is not None else p.tia.v_swing

    @classmethod
    def from_dict(cls, data: object) -> ExperimentConfig:
        if not isinstance(data, dict):
            raise InputError(f"experiment configuration {data!r}: expected a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"experiment configuration: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)
