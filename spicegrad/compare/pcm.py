"""PCM testbench: SET/RESET pulse schedules on one cell, twin and ngspice compared per slot.

Time is cut into slots of length ``period`` (the twin's dt). In slot k a 1 V trapezoidal pulse
(rise = fall = ``edge``, flat top ``width``) starts at t_k + ``delay`` on ``prog`` (SET) or
``rst`` (RESET; a slot with both gets the RESET pulse first and the SET pulse ``delay`` after
its end, so the track-and-hold settles in between). ``xi`` is a PWL carrying, in slot k, the
write/reset sample xi[k] while a pulse is high and the read sample xi_read[k+1] from the end of
the slot's pulses to t_k+1; it changes only while prog and rst are low (deterministic runs: all
zero). A constant ``v_read`` on te gives the read current, so ngspice's read conductance is
G_r = I/v_read. Both sides are sampled at the slot boundaries t_k = k·period (the te source has
a PWL corner at each, so ngspice steps onto them), where the twin's trace index k lives.

(choice) The twin records t_p = t_k, ngspice the end of the pulse (t_k + delay + pulse): reads
differ by about nu_d·(delay + pulse)/(t - t_p), nothing while t - t_p < t0. Keep pulses short
against the slot when drift matters, and edges <= width/100 (ngspice restarts at first order
after each source corner; see spicegrad/models/pcm.lib).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..devices.pcm import US, PCMArray, PCMParams
from ..spice.library import lib_path
from ..spice.netlist import Netlist, pwl
from ..spice.options import SPICE_OPTIONS
from ..spice.runner import Result, run
from ..stimuli import grid_steps
from . import Comparison


@dataclass(frozen=True)
class PulseTiming:
    """Slot and pulse timing of the testbench (s) and the read bias (V)."""

    period: float = 1e-5
    width: float = 1e-6
    edge: float = 1e-8
    delay: float = 1e-6
    v_read: float = 0.1

    def __post_init__(self) -> None:
        for name in ("period", "width", "edge", "delay", "v_read"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"PulseTiming.{name} = {getattr(self, name)!r}: must be > 0")
        if 2 * self.length + 3 * self.delay > self.period:
            raise ValueError(
                f"PulseTiming.period = {self.period!r}: must hold two pulses of "
                f"{self.length:g} s plus 3·delay = {3 * self.delay:g} s"
            )
        if self.delay < 30 * self.t_track:
            raise ValueError(
                f"PulseTiming.delay = {self.delay!r}: must be >= 30·t_track = "
                f"{30 * self.t_track:g} s so the track-and-hold settles between pulses"
            )

    @property
    def length(self) -> float:
        """Duration of one pulse, edges included (s)."""
        return self.width + 2 * self.edge

    @property
    def area(self) -> float:
        """∫v dt of one 1 V pulse (V·s): the subcircuit's ``t_pulse``; edges count half."""
        return self.width + self.edge

    @property
    def t_track(self) -> float:
        """Track-and-hold time constant: short against the pulse and the low time after it."""
        return self.width / 50

    def pulse_start(self, k: int, second: bool) -> float:
        """Start of slot k's first pulse, or of its second (SET after RESET) pulse."""
        return k * self.period + self.delay + (self.length + self.delay if second else 0.0)

    def busy_end(self, k: int) -> float:
        """End of slot k's second pulse slot: from here to t_k+1 prog and rst are low."""
        return self.pulse_start(k, True) + self.length


def _pulse_train(timing: PulseTiming, starts: list[float], t_stop: float):
    """PWL of 1 V trapezoids starting at ``starts`` (0 V elsewhere)."""
    times, values = [0.0], [0.0]
    for s in starts:
        corners = (s, s + timing.edge, s + timing.edge + timing.width, s + timing.length)
        times += corners
        values += [0.0, 1.0, 1.0, 0.0]
    times.append(t_stop)
    values.append(0.0)
    return pwl(times, values)


def _xi_wave(timing: PulseTiming, xi: np.ndarray, xi_read: np.ndarray, t_stop: float):
    """PWL: xi_read[k] at t_k, xi[k] over slot k's pulses, xi_read[k+1] after them."""
    ramp = timing.delay / 4
    times, values = [0.0], [float(xi_read[0])]
    for k, value in enumerate(xi):
        t_k = k * timing.period
        busy_end = timing.busy_end(k)
        times += [t_k + ramp, t_k + 2 * ramp, busy_end + ramp, busy_end + 2 * ramp]
        values += [float(xi_read[k]), float(value), float(value), float(xi_read[k + 1])]
    times.append(t_stop)
    values.append(float(xi_read[-1]))
    return pwl(times, values)


def pcm_netlist(
    params: PCMParams,
    prog: np.ndarray,
    rst: np.ndarray,
    xi: np.ndarray,
    xi_read: np.ndarray,
    timing: PulseTiming,
    method: str = "trap",
) -> str:
    """Testbench netlist for one cell driven by the slot schedule (arrays of length T, T+1)."""
    steps = len(prog)
    t_stop = steps * timing.period
    starts_rst = [timing.pulse_start(k, False) for k in range(steps) if rst[k]]
    starts_prog = [timing.pulse_start(k, bool(rst[k])) for k in range(steps) if prog[k]]
    net = Netlist("spicegrad PCM testbench")
    net.include(lib_path("pcm"))
    net.vsource("prog", "prog", "0", _pulse_train(timing, starts_prog, t_stop))
    net.vsource("rst", "rst", "0", _pulse_train(timing, starts_rst, t_stop))
    net.vsource("xi", "xi", "0", _xi_wave(timing, xi, xi_read, t_stop))
    # A constant PWL with a corner at every t_k: ngspice then steps onto each sample time.
    slots = grid_steps(timing.period, steps).tolist()
    net.vsource("te", "te", "0", pwl(slots, [timing.v_read] * len(slots)))
    extra = {"t_pulse": timing.area, "t_track": timing.t_track}
    net.subckt("p", ["te", "0", "prog", "rst", "xi"], "pcm", {**params.spice_params(), **extra})
    net.options(**SPICE_OPTIONS, method=method)
    net.tran(timing.period / 100, t_stop, max_step=timing.period / 10)
    net.save("v(xp.g)", "v(xp.n)", "v(xp.tp)", "i(vte)")
    return net.render()


def pcm_spice_traces(result: Result, t: np.ndarray, timing: PulseTiming) -> dict[str, np.ndarray]:
    """``g_us``, ``g_read_us`` (the read conductance I/v_read, µS) and ``n`` of a
    :func:`pcm_netlist` run, sampled at ``t``."""
    # SPICE's branch current is + -> - through the source: minus the cell current; A -> µS.
    g_read = -result.at("i(vte)", t) / timing.v_read * US
    return {"g_us": result.at("xp.g", t), "g_read_us": g_read, "n": result.at("xp.n", t)}


def _schedule(name: str, values, steps: int) -> np.ndarray:
    """A per-slot input as a float array of length ``steps`` (None: all zero)."""
    out = np.zeros(steps) if values is None else np.asarray(values, dtype=float)
    if out.shape != (steps,) or not np.isfinite(out).all():
        raise ValueError(f"{name}: expected {steps} finite values, got shape {out.shape}")
    return out


def compare_pcm(
    params: PCMParams,
    prog,
    rst=None,
    xi=None,
    xi_read=None,
    timing: PulseTiming | None = None,
    method: str = "trap",
) -> Comparison:
    """Run one cell through the slot schedule in the twin (float64) and in ngspice.

    ``prog``, ``rst``: 0/1 per slot (length T); ``xi``: write/reset sample per slot, ``xi_read``:
    read sample at each t_k (length T+1); omitted samples are 0 (deterministic). The twin gets
    the same samples (common random numbers). Waveforms: ``g_us`` (programmed G), ``g_read_us``
    (drift and read noise), ``n`` — at t_k = k·period, k = 0..T.
    """
    timing = PulseTiming() if timing is None else timing
    steps = len(prog)
    prog, rst, xi = (_schedule(n, v, steps) for n, v in (("prog", prog), ("rst", rst), ("xi", xi)))
    xi_read = _schedule("xi_read", xi_read, steps + 1)
    twin = PCMArray(params, (), deterministic=True, dtype=torch.float64).simulate(
        torch.tensor(prog),
        dt=timing.period,
        rst=torch.tensor(rst),
        xi=torch.tensor(xi),
        xi_read=torch.tensor(xi_read),
    )
    res = run(pcm_netlist(params, prog, rst, xi, xi_read, timing, method))
    t = grid_steps(timing.period, steps)
    return Comparison(
        model="pcm",
        title=f"PCM, {int(prog.sum())} SET / {int(rst.sum())} RESET pulses, slot {timing.period:g} s",
        t=t,
        twin={name: twin[name].numpy() for name in ("g_us", "g_read_us", "n")},
        spice=pcm_spice_traces(res, t, timing),
        units={"g_us": "µS", "g_read_us": "µS", "n": "1"},
        meta={
            "params": params.spice_params(),
            "timing": asdict(timing),
            "stimulus": {
                "prog": prog.tolist(),
                "rst": rst.tolist(),
                "xi": xi.tolist(),
                "xi_read": xi_read.tolist(),
            },
            "dt": timing.period,
        },
    )


def demo_comparison() -> Comparison:
    """20 deterministic SET pulses from G0 = 0.1 µS (nandakumar2018 preset)."""
    return compare_pcm(PCMParams.preset("nandakumar2018"), np.ones(20))
