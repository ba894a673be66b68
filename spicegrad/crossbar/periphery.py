r"""Read-out periphery in the circuit: 1T1R access transistors, a TIA per column, an ADC per output.

No twin models these: they exist in the netlist only (``spicegrad/models/periphery.lib``), which
is the point of training with SPICE in the loop (:mod:`spicegrad.spiceloop`). Each part is
optional and selected by a :class:`Periphery` record given to
:func:`~spicegrad.crossbar.generator.crossbar_circuit` (CLI: ``netlist crossbar --1t1r --tia
--adc-bits ...``):

* :class:`AccessTransistor`: each cell becomes device + NMOS in series (1T1R): the device from the
  row net to an internal net ``m_i_j``, the transistor ``Xacc_i_j`` (drain ``m_i_j``, gate the word
  line ``wl``, source the column net). All word lines are on at ``v_gate`` during a read (one
  source ``Vwl``). ngspice's level-1 MOSFET with the model card ``nacc`` of periphery.lib.
* :class:`TIA`: each physical column's ammeter ``Vsense_j`` now ends in the inverting input
  ``t_j`` of a transimpedance amplifier ``Xtia_j`` with output ``o_j``: ideally
  v(o_j) = -r_f·I_j; with finite open-loop ``gain`` the column sits at -v(o_j)/gain instead of
  0 V, the output is clamped near ±``v_swing`` (the column then leaves virtual ground), and
  ``f_pole`` adds a single open-loop pole.
* :class:`ADC`: each logical output k gets a quantiser ``Xadc_k`` with output ``q_k`` of the
  differential TIA voltage y_k = v(o_2k+1) - v(o_2k) = r_f·(I⁺ - I⁻) (single columns:
  y_k = -v(o_k) = r_f·I_k): ``bits`` signed bits over ±``full_scale`` (mid-tread, clamped).

:mod:`~spicegrad.crossbar.readout` writes them into a circuit. This module holds the records and
their command-line options only (no numpy or torch: every ``--help`` builds without them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Integral

from .._checks import require_positive
from ..errors import InputError


@dataclass(frozen=True)
class AccessTransistor:
    """The NMOS of a 1T1R cell: channel width ``w`` and length ``l`` (m), word line at
    ``v_gate`` (V) while reading. Defaults: W/L = 2, on-resistance ≈ 3.3 kΩ near V_DS = 0."""

    w: float = 0.36e-6
    l: float = 0.18e-6  # noqa: E741 - the channel length, as SPICE calls it
    v_gate: float = 1.2

    def __post_init__(self) -> None:
        for name in ("w", "l", "v_gate"):
            require_positive("AccessTransistor", name, getattr(self, name))

    def spice_params(self) -> dict[str, float]:
        return {"w": self.w, "l": self.l}


@dataclass(frozen=True)
class TIA:
    """An inverting transimpedance amplifier: feedback ``r_f`` (Ω), open-loop ``gain`` (V/V),
    output limit ±``v_swing`` (V), optional open-loop pole ``f_pole`` (Hz; None: none)."""

    r_f: float = 10e3
    gain: float = 1e4
    v_swing: float = 1.0
    f_pole: float | None = None

    def __post_init__(self) -> None:
        for name in ("r_f", "gain", "v_swing"):
            require_positive("TIA", name, getattr(self, name))
        if self.f_pole is not None:
            require_positive("TIA", "f_pole", self.f_pole)

    def spice_params(self) -> dict[str, float]:
        params = {"rf": self.r_f, "gain": self.gain, "vsw": self.v_swing}
        return params if self.f_pole is None else {**params, "fp": self.f_pole}


#: ADC resolutions accepted (signed codes)
ADC_BITS = range(2, 17)


@dataclass(frozen=True)
class ADC:
    """A ``bits``-bit signed quantiser of the range [-full_scale, full_scale) (V)."""

    bits: int = 6
    full_scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, Integral) or self.bits not in ADC_BITS:
            raise InputError(f"ADC.bits = {self.bits!r}: must be an integer from {ADC_BITS.start} to {ADC_BITS.stop - 1}")
        require_positive("ADC", "full_scale", self.full_scale)

    @property
    def lsb(self) -> float:
        """One code step (V)."""
        return 2.0 * self.full_scale / 2**self.bits

    @property
    def cmax(self) -> int:
        """The largest code; the smallest is -cmax - 1."""
        return 2 ** (self.bits - 1) - 1

    def spice_params(self) -> dict[str, float]:
        return {"lsb": self.lsb, "cmax": float(self.cmax)}

    def quantise(self, y):
        """What the ``adc`` subcircuit outputs for inputs ``y`` (V, a tensor)."""
        import torch

        return self.lsb * torch.clamp(torch.floor(y / self.lsb + 0.5), -self.cmax - 1, self.cmax)


@dataclass(frozen=True)
class Periphery:
    """Which periphery a crossbar netlist holds; every part optional. An ADC needs a TIA."""

    access: AccessTransistor | None = None
    tia: TIA | None = None
    adc: ADC | None = None

    def __post_init__(self) -> None:
        for name, cls in (("access", AccessTransistor), ("tia", TIA), ("adc", ADC)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, cls):
                raise InputError(f"Periphery.{name}: a {type(value).__name__}; need a {cls.__name__} or None")
        if self.adc is not None and self.tia is None:
            raise InputError("Periphery: an ADC quantises a voltage; give a TIA too (Periphery(tia=TIA(), adc=ADC()))")

    @property
    def empty(self) -> bool:
        return self.access is None and self.tia is None and self.adc is None

    def describe(self) -> str:
        parts = []
        if self.access is not None:
            a = self.access
            parts.append(f"1T1R (W/L {a.w / a.l:g}, word line {a.v_gate:g} V)")
        if self.tia is not None:
            t = self.tia
            pole = "" if t.f_pole is None else f", pole {t.f_pole:g} Hz"
            parts.append(f"TIA (R_f {t.r_f:g} Ω, gain {t.gain:g}, swing ±{t.v_swing:g} V{pole})")
        if self.adc is not None:
            parts.append(f"ADC ({self.adc.bits} bits, ±{self.adc.full_scale:g} V)")
        return ", ".join(parts) or "none"

    def to_dict(self) -> dict:
        return {name: None if getattr(self, name) is None else asdict(getattr(self, name))
                for name in ("access", "tia", "adc")}

    @classmethod
    def from_dict(cls, data: object) -> Periphery:
        """The record :meth:`to_dict` wrote (from a checkpoint: checked, never trusted)."""
        if not isinstance(data, dict) or set(data) - {"access", "tia", "adc"}:
            raise InputError(f"periphery record {data!r}: expected a table with keys access, tia, adc")
        parts = {}
        for name, part in (("access", AccessTransistor), ("tia", TIA), ("adc", ADC)):
            value = data.get(name)
            if value is None:
                continue
            fields = set(part.__dataclass_fields__)
            if not isinstance(value, dict) or not set(value) <= fields:
                raise InputError(f"periphery record {name} = {value!r}: expected a table of {sorted(fields)}")
            try:
                parts[name] = part(**value)
            except (TypeError, ValueError) as exc:
                raise InputError(f"periphery record {name} = {value!r}: {exc}") from None
        return cls(**parts)


# --- command line ---------------------------------------------------------------------------

#: the parts ``--periphery`` names
PARTS = ("1t1r", "tia", "adc")


def add_periphery_options(parser, default: Periphery | None = None) -> None:
    """``--periphery PARTS`` and the parts' parameters on an argparse parser, defaulting to
    ``default`` (its parts, and its values where it has the part; the records' defaults
    otherwise); read with :func:`periphery_from_args`."""
    default = Periphery() if default is None else default
    d_acc = default.access or AccessTransistor()
    d_tia = default.tia or TIA()
    d_adc = default.adc or ADC()
    parts = ",".join(name for name, part in zip(PARTS, (default.access, default.tia, default.adc), strict=True)
                     if part is not None) or "none"
    parser.add_argument("--periphery", default=parts, metavar="PARTS",
                        help="comma-separated parts of the read-out in the circuit: 1t1r (an NMOS access transistor "
                             "per cell), tia (a transimpedance amplifier per column), adc (a quantiser per output, "
                             f"needs tia); or none (default {parts})")
    parser.add_argument("--word-line", type=float, default=d_acc.v_gate, metavar="V",
                        help=f"1t1r: gate voltage of the access transistors, V (default {d_acc.v_gate:g})")
    parser.add_argument("--access-wl", type=float, default=d_acc.w / d_acc.l, metavar="W/L",
                        help=f"1t1r: width over length at L = {d_acc.l:g} m (default {d_acc.w / d_acc.l:g})")
    parser.add_argument("--tia-rf", type=float, default=d_tia.r_f, metavar="OHM",
                        help=f"tia: feedback resistance, Ω (default {d_tia.r_f:g})")
    parser.add_argument("--tia-gain", type=float, default=d_tia.gain, help=f"tia: open-loop gain (default {d_tia.gain:g})")
    parser.add_argument("--tia-swing", type=float, default=d_tia.v_swing, metavar="V",
                        help=f"tia: output limit ±V (default {d_tia.v_swing:g})")
    parser.add_argument("--tia-pole", type=float, default=d_tia.f_pole, metavar="HZ",
                        help="tia: open-loop pole, Hz (default: none)" if d_tia.f_pole is None
                        else f"tia: open-loop pole, Hz (default {d_tia.f_pole:g})")
    parser.add_argument("--adc-bits", type=int, default=d_adc.bits, help=f"adc: signed bits (default {d_adc.bits})")
    parser.add_argument("--adc-range", type=float, default=d_adc.full_scale, metavar="V",
                        help=f"adc: full scale ±V (default {d_adc.full_scale:g})")


def periphery_from_args(args) -> Periphery:
    """The :class:`Periphery` that :func:`add_periphery_options`' arguments describe."""
    text = str(args.periphery).strip().lower()
    parts = [] if text == "none" else [p.strip() for p in text.split(",")]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or len(set(parts)) != len(parts):
        raise InputError(f"--periphery {args.periphery!r}: give none, or distinct parts out of {', '.join(PARTS)}")
    access = tia = adc = None
    if "1t1r" in parts:
        l_ch = AccessTransistor().l
        access = AccessTransistor(w=require_positive("--access-wl", "W/L", args.access_wl) * l_ch, l=l_ch,
                                  v_gate=args.word_line)
    if "tia" in parts:
        tia = TIA(args.tia_rf, args.tia_gain, args.tia_swing, args.tia_pole)
    if "adc" in parts:
        adc = ADC(args.adc_bits, args.adc_range)
    return Periphery(access, tia, adc)
