r"""Phase-change memory (PCM) cell array: differentiable twin of ``spicegrad/models/pcm.lib``.

Nandakumar et al., "A phase-change memory model for neuromorphic computing", J. Appl. Phys. 124,
152135 (2018), as implemented in the SRNN-PCM code (Demirag et al. 2021, ``xbar.py``, MIT).
Units: conductances in µS (names end in ``_us``), times in s. This is an event (pulse) model:
the state changes only at programming pulses, so there is no integrator.

State per device: G (programmed conductance, µS, working dtype), n (SET pulses since the last
RESET) and t_p (time of the last SET or RESET, s); n and t_p are always float64 so that pulse
counts and absolute times keep full precision when G is float32. Equations::

    WRITE (one partial SET at t):  n <- n + 1
                                   μ = m1·G + c1 + A1·e^{-n/a}
                                   σ = m2·G + c2 + A2·e^{-n/a}
                                   G <- clip(G + μ + σ·ξ, G_min, G_max);   t_p <- t
    READ at t:                     G_d = G·(max(t - t_p, t0)/t0)^(-ν_d)
                                   G_r = clip(G_d + (m3·G_d + c3)·ξ_r, G_min, G_max)
    RESET at t:                    G <- clip(G0·(1 + s0·ξ), G_min, G_max);  n <- 0;  t_p <- t

ξ, ξ_r ~ N(0, 1) are drawn from a seedable ``torch.Generator`` (reparameterised, so reads and
writes stay differentiable in G away from the clip bounds), set to 0 in deterministic
(mean-field) mode, or passed explicitly for common random numbers with ngspice.

Modelling choices (each SRNN-PCM defect named in docs/device-models.md §3 is decided here):

* (choice) Drift floor: the elapsed time is floored at t0 = 38.6 s. Nandakumar et al. fitted G
  as the conductance observed t0 after programming, and the power law is calibrated for
  t - t_p >= t0. The literal (t - t_p)/t0 form is 0^(-ν) = inf (NaN after noise and clip) at
  t = t_p — SRNN-PCM's NaN — and, for reads 0-1 s after a write, reads 16-57 % above G
  (38.6^0.04 = 1.157 at 1 s, growing without bound toward t_p). With the floor, a read within t0
  of a write returns G itself (the value the write model steps from), reads are finite for
  every t (also t < t_p), and for t - t_p >= t0 the drift is exactly Nandakumar's law.
* (choice) RESET takes the time as a required argument (SRNN-PCM's refresh called ``reset()``
  without it and crashed) and records it in t_p.
* (choice) Reset spread: G0·(1 + s0·ξ) with ξ ~ N(0, 1), s0 = ``g0_spread`` = 0.1 (SRNN-PCM:
  ``normal(G0, 0.1·G0)``), clipped to [G_min, G_max] (SRNN-PCM clamps at 0.01 µS, below its own
  G_min; clipping at G_min keeps every state a conductance the model can produce — with
  G0 = G_min half the resets sit at G_min, the mean reset is 0.104 µS, and the statistics after
  one pulse move by < 0.005 µS). Deterministic mode resets to G0 exactly. The array starts
  freshly reset at t = 0.
* (choice) The index of the pulse being applied is the incremented n (the first SET after a
  RESET uses e^{-1/a}), as SRNN-PCM's ``Pmem`` does.
* (choice) Read noise is i.i.d. per read (one ξ_r per device per call), as in SRNN-PCM; it is not
  a time-correlated (1/f) process. Reads in deterministic mode, or with ``noise=False``, are
  G_d clipped to [G_min, G_max].
* (choice) In :meth:`PCMArray.simulate` a slot with both RESET and SET applies RESET first
  (a refresh); the slot's ξ serves both, as ngspice's ``xi`` input serves whichever pulse is
  high. ngspice needs the RESET pulse before the SET pulse (they must not overlap).
* Not applicable to a device model, left to the training schemes that use it: SRNN-PCM's
  mixed-precision accumulator relied on the old truncating ``floor_divide`` (use explicit
  ``torch.div(..., rounding_mode="floor")`` there), and its multi-memristor forward pass sums
  N devices per side while updates target their mean (a synapse must use one convention).
* (choice) :class:`PCMArray` is a plain object, not an ``nn.Module``: ``Module.to(dtype)``
  would cast n and t_p, which must stay float64.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from .._checks import (
    check_fields,
    finite,
    has_values,
    non_negative,
    positive,
    require_dt,
    require_finite,
    require_finite_tensor,
    require_range,
)
from ._base import DeviceParams, param

_OWNER = "PCMArray"
#: µS per S: the PCM model is stated in µS, circuits and crossbars in S (S -> µS: ``g * US``)
US = 1e6
#: S per µS (µS -> S: ``g_us * S_PER_US``). 1/US is the same double as 1e-6, so this multiplies
#: exactly as ``* 1e-6`` does; ``g_us / US`` rounds differently in the last bit for about a
#: quarter of values.
S_PER_US = 1.0 / US


@dataclasses.dataclass(frozen=True)
class PCMParams(DeviceParams):
    """Nandakumar et al. 2018 PCM parameters (defaults: the ``nandakumar2018`` preset).

    Presets: ``nandakumar2018`` — the paper's fit as used by SRNN-PCM (``xbar.py``), G_max
    12 µS; ``nandakumar2018-fig5`` — the same with G_max = 20 µS, which SRNN-PCM uses to
    replicate the paper's Fig. 5.
    """

    a: float = param(2.6, "1", "pulse-number decay constant of the A1, A2 terms")
    m1: float = param(-0.084, "1", "slope of the mean increment in G")
    c1_us: float = param(0.880, "µS", "offset of the mean increment")
    a1_us: float = param(1.40, "µS", "amplitude of the pulse-number term of the mean increment")
    m2: float = param(0.091, "1", "slope of the increment's standard deviation in G")
    c2_us: float = param(0.260, "µS", "offset of the increment's standard deviation")
    a2_us: float = param(2.15, "µS", "amplitude of the pulse-number term of the std")
    m3: float = param(0.03, "1", "slope of the read-noise standard deviation in G_d")
    c3_us: float = param(0.13, "µS", "offset of the read-noise standard deviation")
    nu_d: float = param(0.04, "1", "drift exponent")
    t0: float = param(38.6, "s", "time after programming at which G is defined (drift floor)")
    g_max_us: float = param(12.0, "µS", "largest conductance (clip)")
    g_min_us: float = param(0.1, "µS", "smallest conductance (clip)")
    g0_us: float = param(0.1, "µS", "mean conductance after RESET")
    g0_spread: float = param(0.1, "1", "relative std of the RESET conductance (normal)")

    PRESETS: ClassVar[dict[str, dict]] = {
        "nandakumar2018": {},
        "nandakumar2018-fig5": {"g_max_us": 20.0},
    }

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "a": positive,
                "m1": finite,
                "c1_us": finite,
                "a1_us": finite,
                "m2": non_negative,
                "c2_us": non_negative,
                "a2_us": non_negative,
                "m3": non_negative,
                "c3_us": non_negative,
                "nu_d": lambda o, n, v: require_range(o, n, v, 0.0, 1.0, hi_open=True),
                "t0": positive,
                "g_max_us": positive,
                "g_min_us": positive,
                "g0_spread": lambda o, n, v: require_range(o, n, v, 0.0, 1.0, hi_open=True),
            },
        )
        if self.g_min_us >= self.g_max_us:
            raise ValueError(
                f"PCMParams.g_min_us = {self.g_min_us!r}: must be below g_max_us = "
                f"{self.g_max_us!r}"
            )
        require_range("PCMParams", "g0_us", self.g0_us, self.g_min_us, self.g_max_us)


# --- pure step functions -------------------------------------------------------------------


def pcm_clip(g_us: torch.Tensor, p: PCMParams) -> torch.Tensor:
    """clip(G, G_min, G_max) (gradient 1 inside, 0 outside)."""
    return g_us.clamp(p.g_min_us, p.g_max_us)


def pcm_set(g_us: torch.Tensor, n: torch.Tensor, xi: torch.Tensor, p: PCMParams) -> torch.Tensor:
    """Conductance after SET pulse number ``n`` (float64, already incremented) from ``g_us``.

    G' = clip(G + μ + σ·ξ),  μ = m1·G + c1 + A1·e^{-n/a},  σ = m2·G + c2 + A2·e^{-n/a}.
    """
    decay = torch.exp(-n / p.a).to(g_us.dtype)
    mu = p.m1 * g_us + p.c1_us + p.a1_us * decay
    sigma = p.m2 * g_us + p.c2_us + p.a2_us * decay
    return pcm_clip(g_us + mu + sigma * xi, p)


def pcm_reset_value(xi: torch.Tensor, p: PCMParams) -> torch.Tensor:
    """RESET conductance clip(G0·(1 + s0·ξ)) (ξ = 0: exactly G0)."""
    return pcm_clip(p.g0_us * (1.0 + p.g0_spread * xi), p)


def pcm_drift_factor(t: torch.Tensor, t_p: torch.Tensor, p: PCMParams) -> torch.Tensor:
    """(max(t - t_p, t0)/t0)^(-ν_d) in float64: 1 within t0 of programming, never inf or NaN."""
    elapsed = torch.clamp(t - t_p, min=p.t0)
    return (elapsed / p.t0).pow(-p.nu_d)


def pcm_read(
    g_us: torch.Tensor, t_p: torch.Tensor, t: torch.Tensor, xi: torch.Tensor | None, p: PCMParams
) -> torch.Tensor:
    """Read conductance G_r = clip(G_d + (m3·G_d + c3)·ξ_r), G_d = G·drift; ξ_r None: no noise."""
    g_d = g_us * pcm_drift_factor(t, t_p, p).to(g_us.dtype)
    if xi is None:
        return pcm_clip(g_d, p)
    return pcm_clip(g_d + (p.m3 * g_d + p.c3_us) * xi, p)


def pcm_mean_field_curve(n: int, p: PCMParams) -> torch.Tensor:
    """Mean-field conductance (µS, float64) after k = 0..n-1 SET pulses from RESET:
    G_0 = G0, G_k = :func:`pcm_set` (G_{k-1}, k, ξ = 0) — the cumulative SET curve of a
    deterministic :class:`PCMArray` (the pulse times do not enter)."""
    g = torch.tensor(p.g0_us, dtype=torch.float64)
    zero = torch.zeros((), dtype=torch.float64)
    curve = [g]
    for k in range(1, n):
        g = pcm_set(g, torch.tensor(float(k), dtype=torch.float64), zero, p)
        curve.append(g)
    return torch.stack(curve)


def _selects_any(mask: torch.Tensor) -> bool:
    """Whether a pulse slot selects any device (skipping empty slots keeps the generator's draws
    as before); on a meta tensor (no values, shape inference) the pulse is applied."""
    return not has_values(mask) or bool(mask.any())


# --- stateful array ------------------------------------------------------------------------


class PCMArray:
    """An array of PCM cells of any ``shape``, with state G (µS), n and t_p (s).

    ``deterministic=True`` is the mean-field device (ξ = 0 unless given explicitly);
    otherwise noise comes from ``generator`` (seed it for reproducible runs). The array starts
    freshly reset at t = 0. All methods work batched, on any device, in float32 or float64.
    """

    Params = PCMParams

    def __init__(
        self,
        params: PCMParams | None = None,
        shape: tuple[int, ...] | torch.Size = (),
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        self.params = PCMParams() if params is None else params
        if not isinstance(self.params, PCMParams):
            raise ValueError(f"{_OWNER}.params: expected PCMParams, got {type(params).__name__}")
        if not dtype.is_floating_point:
            raise ValueError(f"{_OWNER}.dtype = {dtype!r}: must be a floating-point dtype")
        self.shape = torch.Size(shape)
        self.deterministic = bool(deterministic)
        self.generator = generator
        self.dtype = dtype
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.g_us = torch.full(self.shape, self.params.g0_us, dtype=dtype, device=self.device)
        self.n = torch.zeros(self.shape, dtype=torch.float64, device=self.device)
        self.t_p = torch.zeros(self.shape, dtype=torch.float64, device=self.device)
        self.reset(True, 0.0)

    # -- helpers --------------------------------------------------------------------------

    def _mask(self, mask) -> torch.Tensor:
        m = torch.as_tensor(mask, device=self.device)
        if m.dtype != torch.bool:
            require_finite_tensor(_OWNER, "mask", m.double())
            m = m != 0
        return m.expand(self.shape)

    def _time(self, t, name: str = "t") -> torch.Tensor:
        tt = torch.as_tensor(t, dtype=torch.float64, device=self.device)
        require_finite_tensor(_OWNER, name, tt)
        return tt.expand(self.shape)

    def _noise(self, xi, name: str = "xi") -> torch.Tensor:
        """ξ: the given sample, else 0 in deterministic mode, else N(0, 1) from the generator."""
        if xi is not None:
            x = torch.as_tensor(xi, dtype=self.dtype, device=self.device)
            require_finite_tensor(_OWNER, name, x)
            return x.expand(self.shape)
        if self.deterministic:
            return torch.zeros(self.shape, dtype=self.dtype, device=self.device)
        return torch.randn(
            self.shape, generator=self.generator, dtype=self.dtype, device=self.device
        )

    # -- device operations ----------------------------------------------------------------

    def write(self, mask, t: float | torch.Tensor, xi: torch.Tensor | None = None) -> None:
        """One partial-SET pulse at time ``t`` (s) on the devices where ``mask`` is true."""
        m = self._mask(mask)
        n_new = self.n + 1.0
        g_new = pcm_set(self.g_us, n_new, self._noise(xi), self.params)
        self.g_us = torch.where(m, g_new, self.g_us)
        self.n = torch.where(m, n_new, self.n)
        self.t_p = torch.where(m, self._time(t), self.t_p)

    def reset(self, mask, t: float | torch.Tensor, xi: torch.Tensor | None = None) -> None:
        """RESET at time ``t`` (s): G <- G0·(1 + s0·ξ) clipped, n <- 0, t_p <- t."""
        m = self._mask(mask)
        g_new = pcm_reset_value(self._noise(xi), self.params)
        self.g_us = torch.where(m, g_new, self.g_us)
        self.n = torch.where(m, torch.zeros_like(self.n), self.n)
        self.t_p = torch.where(m, self._time(t), self.t_p)

    def read(
        self, t: float | torch.Tensor, noise: bool = True, xi: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Read conductance (µS) at time ``t`` (s): drift, plus read noise when ``noise``.

        ``xi`` supplies the read-noise sample explicitly (it wins over ``deterministic``).
        """
        use_noise = noise and (xi is not None or not self.deterministic)
        sample = self._noise(xi, "xi_read") if use_noise else None
        return pcm_read(self.g_us, self.t_p, self._time(t), sample, self.params)

    def state(self) -> dict[str, torch.Tensor]:
        """Copies of the state: ``g_us`` (working dtype), ``n`` and ``t_p`` (float64)."""
        return {"g_us": self.g_us.clone(), "n": self.n.clone(), "t_p": self.t_p.clone()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the state (each entry broadcastable to ``shape``; G within [G_min, G_max])."""
        p = self.params
        g = torch.as_tensor(state["g_us"], device=self.device).to(self.dtype)
        require_finite_tensor(_OWNER, "g_us", g.detach())
        if ((g < p.g_min_us) | (g > p.g_max_us)).any():
            raise ValueError(
                f"{_OWNER}.g_us: values must lie in [{p.g_min_us:g}, {p.g_max_us:g}] µS, got "
                f"min {g.min().item():g}, max {g.max().item():g}"
            )
        n = torch.as_tensor(state["n"], dtype=torch.float64, device=self.device)
        require_finite_tensor(_OWNER, "n", n)
        if (n < 0).any():
            raise ValueError(f"{_OWNER}.n: pulse counts must be >= 0, got min {n.min().item():g}")
        self.g_us = g.expand(self.shape).clone()
        self.n = n.expand(self.shape).clone()
        self.t_p = self._time(state["t_p"], "t_p").clone()

    # -- time loop ------------------------------------------------------------------------

    def _slots(self, x, name: str, steps: int | None = None) -> torch.Tensor:
        """An input trace as Tensor[T, *shape] (a [T] trace is broadcast over the array)."""
        x = torch.as_tensor(x, device=self.device)
        require_finite_tensor(_OWNER, name, x.double())
        if x.dim() == 0 or (steps is not None and x.shape[0] != steps):
            raise ValueError(
                f"{_OWNER}.{name}: expected shape [T, *{tuple(self.shape)}] with T = {steps}, "
                f"got {tuple(x.shape)}"
            )
        view = x.reshape(x.shape[0], *([1] * len(self.shape))) if x.dim() == 1 else x
        return view.expand(x.shape[0], *self.shape)

    def simulate(
        self,
        prog: torch.Tensor,
        dt: float,
        rst: torch.Tensor | None = None,
        xi: torch.Tensor | None = None,
        read: bool = True,
        xi_read: torch.Tensor | None = None,
        t_start: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Run a pulse schedule on slots t_k = t_start + k·dt and return the traces.

        ``prog[k]``, ``rst[k]`` (0/1, Tensor[T] or [T, *shape]) act at t_k (RESET first);
        ``xi[k]`` is the slot's write/reset sample and ``xi_read[k]`` (Tensor[T+1, ...]) the
        read sample at t_k (explicit samples give common random numbers with ngspice).
        Returns ``g_us``, ``n``, ``t_p`` and, with ``read``, ``g_read_us`` (the read at t_k),
        each Tensor[T+1, *shape], index 0 = the state before the first slot. Advances the
        array's state.
        """
        dt = require_dt(_OWNER, dt)
        t_start = require_finite(_OWNER, "t_start", t_start)
        prog = self._slots(prog, "prog") != 0
        steps = prog.shape[0]
        rst = None if rst is None else self._slots(rst, "rst", steps) != 0
        xi = None if xi is None else self._slots(xi, "xi", steps)
        xi_read = None if xi_read is None else self._slots(xi_read, "xi_read", steps + 1)
        traces = {name: [] for name in ("g_us", "n", "t_p", "g_read_us")}

        def record(k: int) -> None:
            for name, value in self.state().items():
                traces[name].append(value)
            if read:
                sample = None if xi_read is None else xi_read[k]
                traces["g_read_us"].append(self.read(t_start + k * dt, xi=sample))

        record(0)
        for k in range(steps):
            t_k = t_start + k * dt
            slot_xi = None if xi is None else xi[k]
            if rst is not None and _selects_any(rst[k]):
                self.reset(rst[k], t_k, slot_xi)
            if _selects_any(prog[k]):
                self.write(prog[k], t_k, slot_xi)
            record(k + 1)
        return {name: torch.stack(v) for name, v in traces.items() if v}
