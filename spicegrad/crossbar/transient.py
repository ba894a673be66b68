r"""The time loops behind :func:`~spicegrad.crossbar.layers.simulate_crossbar`, keeping only
what the caller asks for.

A transient of B runs of an R x Cp array over T steps has B·R·Cp states at each of T+1 grid
points; stored whole in float64 that is 1 GB for 64 runs of a 32x32 differential array over
1000 steps, which is what made batches slower per run than one run alone. :class:`Record`
says what to keep: the column currents (small: [T+1, B, Cp]), the states every k-th step, a few
probed devices, the device voltages; the final state is always returned. The loops run in
chunks of steps and carry the state from one chunk to the next, so memory is bounded by the
chunk, not by T.

Ideal wires (every device of row r sees V_r): a state update that is affine in the state,
x_k+1 = α_k·x_k + β_k with α, β functions of the row voltage alone (MSS, either integrator),
gives x_k = P_k·x_0 + Q_k with per-row P, Q [T, B, R, 1] from one log-depth scan per chunk.
When in addition the conductance is affine in the state on an interval the trajectory does
not leave (``CrossbarDevice.conductance_line``: MSS, G = g_min + (g_max - g_min)·x on [0, 1]),
the column currents need no state at all:

    I_kc = Σ_r V_kr·G(x_krc) = c0·Σ_r V_kr + c1·[ Σ_r (V_kr·P_kr)·x0_rc + Σ_r V_kr·Q_kr ]

one batched matrix product per chunk ([steps, R] by [R, Cp] for each run). The interval is checked per
chunk from the per-row extremes of x_0 (exact, as x_k is monotone in x_0); a chunk that leaves
it, a meta tensor (no values to check) or a non-linear cell forms the chunk's states and sums
I = Σ_r current(V, x) instead. Both give the same numbers to rounding (tests/test_transient.py).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch

from .._checks import has_values
from ..errors import InputError

#: (choice) elements of one chunk's states (steps x B x R x Cp) the ideal loop forms at a time:
#: 2**20 float64 values are 8 MiB, inside a core's cache share on the machines we measured
CHUNK_ELEMENTS = 2**20
#: (choice, measured) the most steps one chunk of the per-row scan covers: its log-depth passes
#: grow with the chunk; 32-64 steps were fastest for 64 and 256 runs of a 32x32 array (4.6-5.9 ms
#: per run over 1000 steps, against 5.9-7.9 at 128 and 10-11 at 512, one thread, in a timing run
#: at load 3-4 before benchmarks/batch_bench.py's committed one)
SCAN_STEPS = 64
#: what a transient can keep (``Record.keep``)
OUTPUTS = ("state", "i", "v_dev")


@dataclass(frozen=True)
class Record:
    """What a transient keeps. ``keep``: any of ``"state"`` (states at steps 0, every,
    2·every, ...: [n, B, R, Cp], their step indices in ``"state_steps"``), ``"i"`` (column
    currents [T+1, B, Cp], A) and ``"v_dev"`` (device voltages [T, B, R, Cp], V). ``probes``:
    (row, physical column) pairs whose state is kept at every step (``"probe"`` [T+1, B, P]).
    ``"final_state"`` [B, R, Cp] is always returned."""

    keep: tuple[str, ...] = OUTPUTS
    every: int = 1
    probes: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, keep, every, probes, shape: tuple[int, int]) -> Record:
        """Checked arguments of :func:`simulate_crossbar` for an array of ``shape`` (R, Cp)."""
        allowed = ", ".join(map(repr, OUTPUTS))
        if not isinstance(keep, (str, list, tuple, set, frozenset)):
            raise InputError(f"keep = {keep!r}: a name or a sequence of names among {allowed}")
        keep = (keep,) if isinstance(keep, str) else tuple(keep)
        bad = [k for k in keep if k not in OUTPUTS]
        if bad:
            raise InputError(f"keep = {bad[0]!r}: must be among {allowed}")
        every = whole_steps("every", every)
        pairs = []
        for p in [] if probes is None else list(probes):
            try:
                r, c = (operator.index(u) for u in p)
                if any(isinstance(u, bool) for u in p):
                    raise TypeError
            except (TypeError, ValueError):
                raise InputError(f"probes: {p!r} is not a (row, column) pair of whole numbers") from None
            if not (0 <= r < shape[0] and 0 <= c < shape[1]):
                raise InputError(f"probes: ({r}, {c}) lies outside the {shape[0]} x {shape[1]} array "
                                 "(rows, physical columns)")
            pairs.append((r, c))
        return cls(keep, every, tuple(pairs))

    def wants(self, name: str) -> bool:
        return name in self.keep


def whole_steps(name: str, value) -> int:
    """``value`` as a whole number of steps >= 1 (Python, numpy or 0-d tensor integers), or InputError."""
    try:
        steps = operator.index(value)
    except TypeError:
        steps = None
    if isinstance(value, bool) or steps is None or steps < 1:
        raise InputError(f"{name} = {value!r}: must be a whole number of steps >= 1")
    return steps


def require_chunk(chunk) -> int | None:
    """``chunk`` (steps per chunk, or None for the default), or InputError."""
    return None if chunk is None else whole_steps("chunk", chunk)


def chunk_steps(batch: int, rows: int, cols: int, chunk: int | None) -> int:
    """Steps per chunk: ``chunk`` when given, else :data:`CHUNK_ELEMENTS` worth of values of
    ``cols`` per row (the per-row scan of an ideal array has cols = 1)."""
    if chunk is not None:
        return whole_steps("chunk", chunk)
    return max(1, CHUNK_ELEMENTS // max(1, batch * rows * cols))


def affine_scan(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan over dim 0 of x_k+1 = alpha_k·x_k + beta_k: (P_k, Q_k) with
    x_k+1 = P_k·x_0 + Q_k, in ceil(log2 T) vectorised passes (Hillis-Steele); differentiable."""
    d = 1
    while d < alpha.shape[0]:
        a_prev = torch.cat([torch.ones_like(alpha[:d]), alpha[:-d]])
        b_prev = torch.cat([torch.zeros_like(beta[:d]), beta[:-d]])
        alpha, beta = alpha * a_prev, alpha * b_prev + beta
        d *= 2
    return alpha, beta


class Recorder:
    """Collects a transient's outputs step block by step block, as :class:`Record` asks."""

    def __init__(self, record: Record, steps: int):
        self.record, self.steps = record, steps
        self.states, self.steps_kept, self.currents, self.voltages, self.probed = [], [], [], [], []
        self.final = None
        if record.probes:
            self.probe_r = torch.tensor([r for r, _ in record.probes])
            self.probe_c = torch.tensor([c for _, c in record.probes])

    def _kept(self, first: int, n: int) -> torch.Tensor:
        """Offsets in the block of steps first..first+n-1 whose state is kept."""
        start = (-first) % self.record.every
        return torch.arange(start, max(start, n), self.record.every)

    def states_block(self, first: int, x: torch.Tensor) -> None:
        """States x [n, B, R, Cp] of steps first..first+n-1."""
        if self.record.wants("state"):
            kept = self._kept(first, x.shape[0])
            self.states.append(x[kept.to(x.device)])
            self.steps_kept.append(kept + first)
        if self.record.probes:
            self.probed.append(x[:, :, self.probe_r.to(x.device), self.probe_c.to(x.device)])
        if first + x.shape[0] == self.steps + 1:
            self.final = x[-1]

    def affine_block(self, first: int, p: torch.Tensor, q: torch.Tensor, x0: torch.Tensor) -> None:
        """States P·x0 + Q of steps first..first+n-1 (p, q [n, B, R, 1]), formed only where kept."""
        if self.record.wants("state"):
            kept = self._kept(first, p.shape[0])
            self.states.append(p[kept.to(p.device)] * x0 + q[kept.to(p.device)])
            self.steps_kept.append(kept + first)
        if self.record.probes:
            r, c = self.probe_r.to(p.device), self.probe_c.to(p.device)
            self.probed.append(p[:, :, r, 0] * x0[:, r, c] + q[:, :, r, 0])
        if first + p.shape[0] == self.steps + 1:
            self.final = p[-1] * x0 + q[-1]

    def result(self) -> dict[str, torch.Tensor]:
        out = {"final_state": self.final}
        if self.record.wants("state"):
            out["state"], out["state_steps"] = torch.cat(self.states), torch.cat(self.steps_kept)
        if self.record.wants("i"):
            out["i"] = torch.cat(self.currents)
        if self.record.wants("v_dev") and self.voltages:
            out["v_dev"] = torch.cat(self.voltages)
        if self.record.probes:
            out["probe"] = torch.cat(self.probed)
        return out


def ideal_transient(dev, params, x0, v, dt, integrator, linear, record: Record, chunk: int | None) -> dict:
    """Ideal wires (see the module docstring): x0 [B, R, Cp] (broadcast views allowed), v [T, B, R].
    ``chunk``: steps per chunk (default: :data:`CHUNK_ELEMENTS` of the per-row scan's values,
    at most :data:`SCAN_STEPS`; a chunk whose states must be formed is formed in pieces of
    :data:`CHUNK_ELEMENTS` states). The device voltages are the row voltages: ``"v_dev"`` is a
    broadcast view of ``v``, no memory."""
    steps = v.shape[0]
    batch, rows, cols = x0.shape
    piece = chunk_steps(batch, rows, cols, chunk)
    chunk = chunk or min(SCAN_STEPS, chunk_steps(batch, rows, 1, None))
    rec = Recorder(record, steps)
    line = dev.conductance_line(params) if linear else None
    if line is not None and has_values(x0):
        lo_hi = (x0.amin(-1, keepdim=True), x0.amax(-1, keepdim=True))  # [B, R, 1]: x_k is monotone in x0

    def currents(first: int, n: int, p=None, q=None, x=None) -> torch.Tensor:
        vr = torch.cat([v[first : min(first + n, steps)], v[-1:].expand(max(0, first + n - steps), -1, -1)])
        if p is not None and line is not None and has_values(p) and _inside(p, q, lo_hi, line):
            c0, c1, _, _ = line
            return c0 * vr.sum(-1, keepdim=True) + c1 * (
                torch.einsum("nbr,brc->nbc", vr * p[..., 0], x0) + (vr * q[..., 0]).sum(-1, keepdim=True))
        if x is None:  # form the states, a piece at a time
            return torch.cat([currents(first + a, min(piece, n - a), x=p[a : a + piece] * x0 + q[a : a + piece])
                              for a in range(0, n, piece)])
        if not linear:
            return dev.current(vr[..., None], x, params).sum(-2)
        return torch.einsum("nbr,nbrc->nbc", vr, dev.conductance(x, params))

    aff0 = dev.affine_step(v[:1, ..., None], params, dt, integrator) if dev.stateful else None
    if dev.stateful and aff0 is None:  # not affine in the state: one step at a time
        x = x0
        for k in range(steps + 1):
            if record.wants("i"):
                rec.currents.append(currents(k, 1, x=x[None]))
            rec.states_block(k, x[None])
            if k < steps:
                x = dev.step(v[k][:, :, None], x, params, dt, integrator)
        return _with_voltages(rec.result(), record, v, cols)
    ones = torch.ones(*x0.shape[:-1], 1, dtype=x0.dtype, device=x0.device)
    p, q = ones[None], torch.zeros_like(ones)[None]
    _emit(rec, record, 0, p, q, x0, currents)
    for first in range(0, steps, chunk):
        last = min(first + chunk, steps)
        if dev.stateful:
            a, b = dev.affine_step(v[first:last, ..., None], params, dt, integrator)
            a, b = affine_scan(a, b)
            p, q = a * p[-1], a * q[-1] + b
        else:
            p = ones[None].expand(last - first, *ones.shape)
            q = torch.zeros_like(p)
        _emit(rec, record, first + 1, p, q, x0, currents)
    return _with_voltages(rec.result(), record, v, cols)


def _with_voltages(out: dict, record: Record, v: torch.Tensor, cols: int) -> dict:
    """Ideal wires: every device sees its row voltage; ``v_dev`` [T, B, R, Cp] as a view of v."""
    if record.wants("v_dev"):
        out["v_dev"] = v[:, :, :, None].expand(-1, -1, -1, cols)
    return out


def _emit(rec: Recorder, record: Record, first: int, p, q, x0, currents) -> None:
    if record.wants("i"):
        rec.currents.append(currents(first, p.shape[0], p, q))
    rec.affine_block(first, p, q, x0)


def _inside(p, q, lo_hi, line) -> bool:
    """Whether every state P·x0 + Q of the block lies in the conductance line's interval."""
    _, _, lo, hi = line
    ends = (p * lo_hi[0] + q, p * lo_hi[1] + q)
    low, high = torch.minimum(*ends), torch.maximum(*ends)
    return bool((low >= lo).all() and (high <= hi).all())


def wired_transient(solve_step, dev, params, x0, v, dt, integrator, record: Record) -> dict:
    """Wire resistance: per step the network is solved with the conductances at the step
    midpoint, extrapolated as x_k + (x_k - x_k-1)/2, then each device steps its state under its
    own voltage. ``solve_step(k, g [B, R, Cp], x_mid)`` -> (column currents [B, Cp], device
    voltages [B, R, Cp]) for row sample k (the last sample again at k = T)."""
    steps = v.shape[0]
    rec = Recorder(record, steps)
    x = previous = x0
    for k in range(steps + 1):
        # (choice) conductances at the step midpoint, extrapolated from the last step's change:
        # second order like the midpoint row samples, at one solve per step
        mid = x + 0.5 * (x - previous)
        i, v_dev = solve_step(k, dev.conductance(mid, params), mid)
        if record.wants("i"):
            rec.currents.append(i[None])
        rec.states_block(k, x[None])
        if k == steps:
            break
        if record.wants("v_dev"):
            rec.voltages.append(v_dev[None])
        previous = x
        if dev.stateful:
            x = dev.step(v_dev, x, params, dt, integrator)
    return rec.result()
