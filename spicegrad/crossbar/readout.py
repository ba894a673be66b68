"""The periphery of :mod:`~spicegrad.crossbar.periphery` written into a crossbar circuit.

:func:`add_cells` places the cells (with an access transistor each for 1T1R), :func:`add_readout`
the ammeters, amplifiers and ADCs; :func:`outputs` names the vectors of each logical output.
Element and net names: ``Xacc_i_j`` between ``m_i_j`` and the column, word line ``wl`` driven by
``Vwl``; ``Vsense_j`` from the sense net into the amplifier input ``t_j``, ``Xtia_j`` with output
``o_j``; ``Xadc_k`` with output ``q_k``.
"""

from __future__ import annotations

import numpy as np

from ..spice.circuit import RESISTOR, VSOURCE, Circuit, subcircuit
from ..spice.library import lib_path
from .periphery import Periphery

#: the library holding acc1t, tia, tia_pole and adc
LIBRARY = "periphery"
ACCESS = subcircuit("acc1t", ("d", "g", "s"), dc_links=((0, 2),))
TIA_KIND = subcircuit("tia", ("inm", "out"), dc_links=((0, 1),), dc_ground=(1,))
TIA_POLE_KIND = subcircuit("tia_pole", ("inm", "out"), dc_links=((0, 1),), dc_ground=(1,))
ADC_KIND = subcircuit("adc", ("inp", "inm", "out"), dc_ground=(2,))
#: Ω from every TIA and ADC output to ground
OUTPUT_LOAD = 1e9




def tia_kind(periphery: Periphery):
    """The subcircuit kind of the periphery's TIA: with or without its pole."""
    return TIA_KIND if periphery.tia.f_pole is None else TIA_POLE_KIND


def add_cells(circuit: Circuit, periphery: Periphery | None, te: np.ndarray, be: np.ndarray, add_device) -> None:
    """Cells between nets ``te`` and ``be`` [R, Cp]: ``add_device(te, be)`` alone, or with an
    access transistor each, the device ending in a new net ``m_i_j``."""
    if periphery is None or periphery.access is None:
        add_device(te, be)
        return
    circuit.use_library(lib_path(LIBRARY))
    mid = circuit.nets("m", te.shape)
    add_device(te, mid)
    wl = circuit.net("wl")
    circuit.add(VSOURCE, "wl", [wl, 0], periphery.access.v_gate)
    nodes = np.stack([mid.ravel(), np.full(mid.size, wl), be.ravel()], 1)
    circuit.add_block(ACCESS, ("acc", te.shape), nodes, params=periphery.access.spice_params())


def add_readout(circuit: Circuit, periphery: Periphery | None, sense: np.ndarray, pairs: str) -> list[str]:
    """The ammeters ``Vsense_j`` from the sense nets [Cp] into virtual ground (a TIA, or 0 V),
    then the ADCs; returns the vectors to save (:func:`outputs` and the currents)."""
    cp = sense.size
    tia = None if periphery is None else periphery.tia
    if tia is None:
        circuit.add_block(VSOURCE, ("sense", (cp,)), np.stack([sense, np.zeros(cp, np.int64)], 1), [0.0] * cp)
        return [f"i(vsense_{j})" for j in range(cp)]
    circuit.use_library(lib_path(LIBRARY))
    t, o = circuit.nets("t", (cp,)), circuit.nets("o", (cp,))
    circuit.add_block(VSOURCE, ("sense", (cp,)), np.stack([sense, t], 1), [0.0] * cp)
    circuit.add_block(tia_kind(periphery), ("tia", (cp,)), np.stack([t, o], 1), params=tia.spice_params())
    _load(circuit, "oload", o)
    saves = [f"i(vsense_{j})" for j in range(cp)] + [f"v(o_{j})" for j in range(cp)]
    if periphery.adc is not None:
        plus, minus = _differential(o, pairs)
        q = circuit.nets("q", (plus.size,))
        circuit.add_block(ADC_KIND, ("adc", (plus.size,)), np.stack([plus, minus, q], 1),
                          params=periphery.adc.spice_params())
        _load(circuit, "qload", q)
        saves += [f"v(q_{k})" for k in range(q.size)]
    return saves


def _load(circuit: Circuit, prefix: str, nets: np.ndarray) -> None:
    """1 GΩ from each output to ground: the outputs are ideal sources, so it changes nothing."""
    circuit.add_block(RESISTOR, (prefix, nets.shape), np.stack([nets, np.zeros(nets.size, np.int64)], 1),
                      np.full(nets.size, OUTPUT_LOAD))


def _differential(o: np.ndarray, pairs: str) -> tuple[np.ndarray, np.ndarray]:
    """(inp, inm) nets whose difference is r_f·(I⁺ - I⁻): the TIAs invert."""
    if pairs == "differential":
        return o[1::2], o[0::2]
    return np.zeros(o.size, np.int64), o


def outputs(periphery: Periphery | None, cols: int, pairs: str) -> tuple[list[str], list[str], str]:
    """(plus, minus, unit): logical output k is vector plus[k] minus vector minus[k] (minus[k]
    empty: plus[k] alone), in ``unit`` ("V" or "A")."""
    tia = None if periphery is None else periphery.tia
    if tia is not None and periphery.adc is not None:
        return [f"v(q_{k})" for k in range(cols)], [""] * cols, "V"
    if tia is not None:
        if pairs == "differential":
            return [f"v(o_{2 * k + 1})" for k in range(cols)], [f"v(o_{2 * k})" for k in range(cols)], "V"
        return [""] * cols, [f"v(o_{k})" for k in range(cols)], "V"
    if pairs == "differential":
        return [f"i(vsense_{2 * k})" for k in range(cols)], [f"i(vsense_{2 * k + 1})" for k in range(cols)], "A"
    return [f"i(vsense_{k})" for k in range(cols)], [""] * cols, "A"


def ideal_gain(periphery: Periphery | None) -> float:
    """Volts per ampere of differential current an ideal read-out gives (r_f; 1 without a TIA)."""
    return 1.0 if periphery is None or periphery.tia is None else periphery.tia.r_f
