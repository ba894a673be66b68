"""A crossbar with its periphery as ngspice sees it: one netlist per batch of input vectors.

:class:`ReadCircuit` is the circuit half of :class:`~spicegrad.spiceloop.layer.SpiceCrossbar`:
given conductances [R, Cp] and row voltages [B, R] it writes the netlist
(:func:`~spicegrad.crossbar.generator.crossbar_circuit`), runs ngspice and returns the logical
outputs [B, C] in volts. Two ways to put a batch through one ngspice run (measured,
benchmarks/spiceloop_bench.py; 64 vectors into a 64x16 differential 1T1R array with TIAs and
ADCs, ngspice-39, one core):

* ``"sweep"`` (the default for a static circuit): the rows are behavioural sources reading
  vector k at ``.dc`` sweep point k (``analysis="batch"``); each point is one DC solve started
  from the last, so a vector costs a few Newton iterations. Measured 0.16 s for the batch.
* ``"slots"``: vector k is held on PWL sources for the time slot [k·slot, (k+1)·slot) of a
  transient and read at (k + 3/4)·slot. Needed when the circuit has dynamics (a TIA with an
  open-loop pole: the output must settle within a slot, and what it has not settled is part of
  the circuit's answer). Measured 1.33 s for the same batch (ngspice steps several times per
  slot); when nothing is dynamic its outputs equal the sweep's within 1e-11 V (identical after
  an ADC).

Between optimiser steps only the conductances change: the circuit's structure (nets, periphery,
saves) is rebuilt from the same records and rendered by numpy in ≈ 20 ms for this array, against
0.16 s in ngspice; ngspice parses the whole netlist on every run (its shared library offers no
cheaper way to replace thousands of element values than ``alter`` commands, one per element).

With a Dask client the batch is cut into one chunk per worker and each chunk runs on a worker.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from ..crossbar.choices import RESISTOR
from ..crossbar.devices import get_device
from ..crossbar.generator import crossbar_circuit
from ..crossbar.periphery import Periphery
from ..crossbar.readout import outputs
from ..crossbar.topology import CrossbarSpec
from ..errors import InputError
from ..spice.options import SPICE_OPTIONS
from ..spice.runner import run

#: ways to put a batch through ngspice
MODES = ("sweep", "slots")


@dataclass
class Timing:
    """Wall time spent writing netlists and in ngspice (incl. waiting for workers), and counts."""

    render_s: float = 0.0
    ngspice_s: float = 0.0
    runs: int = 0
    vectors: int = 0


@dataclass
class ReadCircuit:
    """``spec`` with ``device`` cells and ``periphery``, read with row voltages in batches.

    ``mode``: ``"sweep"`` or ``"slots"`` (default: sweep unless the TIA has a pole); ``slot``
    (s) the time each vector is held in ``"slots"`` mode; ``options``: ngspice options
    (default: the validator's tolerances).
    """

    spec: CrossbarSpec
    periphery: Periphery = field(default_factory=Periphery)
    device: str = "resistor"
    mode: str | None = None
    slot: float = 1e-6
    options: dict | None = None
    timing: Timing = field(default_factory=Timing, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.spec, CrossbarSpec):
            raise InputError(f"ReadCircuit.spec: a {type(self.spec).__name__}; need a CrossbarSpec")
        if not isinstance(self.periphery, Periphery):
            raise InputError(f"ReadCircuit.periphery: a {type(self.periphery).__name__}; need a Periphery")
        if get_device(self.device).stateful:
            raise InputError(f"device {self.device!r}: reads move its state, so a batch's vectors would not be "
                             "independent; SPICE in the loop takes stateless cells (resistor, pcm)")
        dynamic = self.periphery.tia is not None and self.periphery.tia.f_pole is not None
        if self.mode is None:
            self.mode = "slots" if dynamic else "sweep"
        if self.mode not in MODES:
            raise InputError(f"ReadCircuit.mode = {self.mode!r}: must be one of {MODES}")
        if self.mode == "sweep" and dynamic:
            raise InputError("ReadCircuit: a TIA with a pole has dynamics a DC sweep ignores; use mode='slots'")
        if self.mode == "sweep" and self.device != RESISTOR:
            raise InputError(f"ReadCircuit: a DC sweep would settle the internal states of {self.device!r} cells at "
                             "equilibrium; use mode='slots' (a transient from the programmed state)")
        if isinstance(self.slot, bool) or not (isinstance(self.slot, Real) and math.isfinite(self.slot) and self.slot > 0):
            raise InputError(f"ReadCircuit.slot = {self.slot!r}: must be a time > 0 s")

    def netlist(self, g: np.ndarray, v: np.ndarray, source: str | None = None) -> str:
        """The netlist reading conductances ``g`` [R, Cp] (S) with row voltages ``v`` [B, R] (V)."""
        kwargs = {"periphery": self.periphery, "options": SPICE_OPTIONS if self.options is None else self.options,
                  "source": source or "spicegrad.spiceloop.ReadCircuit.netlist"}
        if self.mode == "sweep":
            circuit = crossbar_circuit(self.spec, self.device, g, analysis="batch", batch=v, **kwargs)
        else:
            circuit = crossbar_circuit(self.spec, self.device, g, stimuli=slot_stimuli(v, self.slot), dt=self.slot / 4,
                                       t_stop=len(v) * self.slot, max_step=self.slot / 4, **kwargs)
        return circuit.render()

    def read(self, result, n: int) -> np.ndarray:
        """The logical outputs [n, C] of a run (volts, or amperes without a TIA)."""
        plus, minus, _ = outputs(self.periphery, self.spec.cols, self.spec.pairs)
        if self.mode == "sweep":
            def vec(name):
                return result[name][:n]
        else:
            t = (np.arange(n) + 0.75) * self.slot

            def vec(name):
                return result.at(name, t)
        zero = np.zeros(n)
        cols = [(vec(p) if p else zero) - (vec(m) if m else zero) for p, m in zip(plus, minus, strict=True)]
        return np.stack(cols, axis=1)

    def evaluate(self, g: np.ndarray, v: np.ndarray, client=None) -> np.ndarray:
        """Outputs [B, C] for conductances ``g`` [R, Cp] and row voltages ``v`` [B, R]; with a
        Dask ``client`` the batch runs as one chunk per worker. ngspice's errors propagate as
        :class:`~spicegrad.spice.errors.SpiceError` with its message."""
        v = np.asarray(v, dtype=float)
        if v.ndim != 2 or v.shape[1] != self.spec.rows or len(v) == 0:
            raise InputError(f"row voltages of shape {v.shape}; need [B, {self.spec.rows}] with B >= 1")
        chunks = [v] if client is None else [c for c in np.array_split(v, _n_workers(client)) if len(c)]
        t0 = time.perf_counter()
        texts = [self.netlist(g, c) for c in chunks]
        t1 = time.perf_counter()
        if client is None:
            parts = [self.read(run(texts[0]), len(v))]
        else:
            futures = [client.submit(_run_and_read, self, text, len(c), pure=False)
                       for text, c in zip(texts, chunks, strict=True)]
            parts = client.gather(futures)
        t2 = time.perf_counter()
        self.timing.render_s += t1 - t0
        self.timing.ngspice_s += t2 - t1
        self.timing.runs += len(chunks)
        self.timing.vectors += len(v)
        return np.concatenate(parts, axis=0)


def _run_and_read(circuit: ReadCircuit, text: str, n: int) -> np.ndarray:
    """On a worker: run one chunk's netlist and read its outputs."""
    return circuit.read(run(text), n)


def _n_workers(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def slot_stimuli(v: np.ndarray, slot: float, edge_fraction: float = 1e-3) -> list:
    """PWL row sources holding vector k over [k·slot + edge, (k+1)·slot], ramping in ``edge``
    (``edge_fraction``·slot: a DAC's settling, choice)."""
    from ..stimuli import Samples

    n = len(v)
    edge = edge_fraction * slot
    starts = np.arange(n) * slot + edge
    starts[0] = 0.0
    times = np.stack([starts, (np.arange(n) + 1) * slot], 1).ravel()
    return [Samples(tuple(times.tolist()), tuple(np.repeat(v[:, i], 2).tolist())) for i in range(v.shape[1])]
