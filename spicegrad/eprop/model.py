r"""e-prop for a recurrent network of LIF neurons with a leaky readout (Bellec et al. 2020).

The network of SRNN-PCM (Demirag et al. 2021, seed 000), time steps t = 0..T-1 of ``dt``::

    v[t+1] = α·v[t] + W_rec·z[t] + W_in·x[t] − thr·z[t]        (reset by subtraction)
    z[t+1] = H(v[t+1] − thr)                                   (thresholded LIF: spikes)
    y[t+1] = κ·y[t] + W_out·z[t+1]                              (leaky readout, no threshold)

with α = e^{−dt/τ_rec}, κ = e^{−dt/τ_out}, v[0] = z[0] = y[0] = 0 and no self-connections.
The loss is E = ½ Σ_t Σ_k (y_k[t] − y*_k[t])², the error e[t] = y[t] − y*[t].

e-prop (Bellec et al. 2020, Methods, "LIF neurons") factorises dE/dW_ji into a learning signal
L_j[t] and an eligibility trace e_ji[t] = ψ_j[t]·x̄_i[t]:

    x̄_i[t] = α·x̄_i[t−1] + x_i[t−1]      (presynaptic trace; z̄ likewise for recurrent synapses)
    ψ_j[t] = γ·max(0, 1 − |v_j[t] − thr|/thr)      (pseudo-derivative: only for the LIF spikes)
    L_j[t] = Σ_k B_jk·e_k[t] + c_reg·(f_j − f0)    (B = W_outᵀ "symmetric" or fixed random)
    dE/dW_ji ≈ Σ_t L_j[t]·F_κ(e_ji)[t],   F_κ(a)[t] = κ·F_κ(a)[t−1] + a[t]
    dE/dW_out,kj = Σ_t e_k[t]·F_κ(z_j)[t]         (exact: the readout has no threshold)

Two evaluations of the same sums are offered. :class:`OnlineEprop` is the online learner: it
carries x̄, z̄, the κ-filtered eligibility traces (R×I and R×R) and the gradient accumulators
forward in time, one step at a time, with no storage of the past. :func:`eprop_gradients`
evaluates the identical sums for a whole sequence at once with the exchange identity
Σ_t L[t]·F_κ(e)[t] = Σ_t (F_κᵀL)[t]·e[t], which turns the per-synapse trace tensors of the
seed code (R×I×T, its 119 s per epoch) into two matrix products of size (B·T)×R by (B·T)×I.
Tests pin the two to each other, the readout gradient to BPTT's, and report the recurrent
gradient's cosine similarity with BPTT's.

Modelling choices (seed code = SRNN-PCM ``srnn.py``):

* (seed) The pseudo-derivative γ·max(0, 1 − |(v − thr)/thr|), γ = 0.3, the firing-rate
  regulariser as a learning signal c_reg·(f_j − f0) (f in Hz over the sequence) filtered by the
  same κ-filtered eligibility traces, and the clamp of each sequence's summed gradient to
  ±100 are the seed's.
* (choice) No self-connections: the diagonal of W_rec is held at zero (the seed RESETs the
  diagonal PCM devices before every sequence instead; see ``pcm_synapse``).
* (seed) The last input sample x[T−1] does not reach the readout within the sequence, as in the
  seed's loop; the traces are indexed so that the sums above are exact for this forward pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from typing import Protocol

import torch

from .._checks import check_fields, require_choice, require_positive, require_range

FEEDBACK = ("random", "symmetric")


def _pos(owner, name, value):
    require_positive(owner, name, value)


def _nonneg(owner, name, value):
    require_range(owner, name, value, 0.0, math.inf)


@dataclasses.dataclass(frozen=True)
class EpropConfig:
    """Network and learning hyper-parameters; defaults are SRNN-PCM's ``train.py`` defaults."""

    n_in: int = 100  # input channels
    n_rec: int = 100  # recurrent LIF units
    n_out: int = 1  # leaky readout units
    thr: float = 0.1  # firing threshold (membrane units)
    tau_rec: float = 30e-3  # s, LIF membrane time constant
    tau_out: float = 30e-3  # s, readout time constant
    dt: float = 1e-3  # s, time step
    gamma: float = 0.3  # pseudo-derivative amplitude
    reg: float = 1e-4  # firing-rate regulariser strength c_reg
    f0: float = 12.0  # Hz, target firing rate
    lr_inp: float = 2e-5
    lr_rec: float = 5e-5
    lr_out: float = 2e-5
    w_init_gain: float = 0.1  # scale of the Kaiming-normal initial weights and of B
    feedback: str = "random"  # learning-signal weights B: "random" (seed) or "symmetric"
    grad_clip: float = 100.0  # clamp of each sequence's summed gradient (seed)

    def __post_init__(self) -> None:
        for name in ("n_in", "n_rec", "n_out"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EpropConfig.{name} = {value!r}: must be an integer >= 1")
        check_fields(self, {"thr": _pos, "tau_rec": _pos, "tau_out": _pos, "dt": _pos,
                            "gamma": _nonneg, "reg": _nonneg, "f0": _nonneg, "lr_inp": _nonneg,
                            "lr_rec": _nonneg, "lr_out": _nonneg, "w_init_gain": _pos,
                            "grad_clip": _pos})
        require_choice("EpropConfig", "feedback", self.feedback, FEEDBACK)

    @property
    def alpha(self) -> float:
        return math.exp(-self.dt / self.tau_rec)

    @property
    def kappa(self) -> float:
        return math.exp(-self.dt / self.tau_out)


class Synapses(Protocol):
    """What one forward pass needs from the three weight matrices: currents, not matrices, so
    a crossbar can read only the devices a step drives (see ``pcm_synapse.SequenceReader``)."""

    def input_currents(self, x: torch.Tensor) -> torch.Tensor:
        """W_in[t]·x[t] for x [B, T, n_in] -> [B, T, R] (the input is known in advance)."""

    def recurrent_current(self, t: int, z_t: torch.Tensor) -> torch.Tensor:
        """W_rec[t]·z[t] for the spikes z_t [B, R] of step t -> [B, R]."""

    def readout_currents(self, z: torch.Tensor) -> torch.Tensor:
        """W_out[t]·z[t] for z [B, T, R] -> [B, T, n_out]."""


@dataclasses.dataclass
class Weights:
    """Weights seen by one forward pass: each either fixed, [rows, cols], or per time step,
    [T, rows, cols] (e.g. dense noisy, drifting crossbar reads). Implements :class:`Synapses`."""

    w_in: torch.Tensor
    w_rec: torch.Tensor
    w_out: torch.Tensor

    def input_currents(self, x: torch.Tensor) -> torch.Tensor:
        return input_currents(x, self.w_in)

    def recurrent_current(self, t: int, z_t: torch.Tensor) -> torch.Tensor:
        return z_t @ _at(self.w_rec, t).t()

    def readout_currents(self, z: torch.Tensor) -> torch.Tensor:
        return input_currents(z, self.w_out)


def kaiming_weights(cfg: EpropConfig, generator: torch.Generator | None = None,
                    device=None, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Initial w_in, w_rec (zero diagonal), w_out and feedback w_fb: gain·N(0, 2/fan_in) (seed)."""
    shapes = {"w_in": (cfg.n_rec, cfg.n_in), "w_rec": (cfg.n_rec, cfg.n_rec),
              "w_out": (cfg.n_out, cfg.n_rec), "w_fb": (cfg.n_out, cfg.n_rec)}
    out = {}
    for name, (rows, cols) in shapes.items():
        w = torch.randn(rows, cols, generator=generator, dtype=dtype)
        out[name] = (w * (cfg.w_init_gain * math.sqrt(2.0 / cols))).to(device)
    out["w_rec"] = out["w_rec"] * no_autapse_mask(cfg.n_rec, out["w_rec"].device, dtype)
    return out


def no_autapse_mask(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    return 1.0 - torch.eye(n, device=device, dtype=dtype)


# --- time filters --------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def decay_kernel(steps: int, decay: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """K[t, s] = decay^(t−s) for s ≤ t, else 0 (so K @ a is the causal leaky filter F); cached."""
    idx = torch.arange(steps, device=device, dtype=dtype)
    lag = idx[:, None] - idx[None, :]
    return torch.where(lag >= 0, decay ** lag.clamp(min=0), torch.zeros((), device=device, dtype=dtype))


def leaky_filter(a: torch.Tensor, decay: float, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """F(a)[t] = decay·F(a)[t−1] + a[t] along dim 1 of a [B, T, n] (one matrix product)."""
    k = decay_kernel(a.shape[1], decay, a.device, a.dtype) if kernel is None else kernel
    return torch.einsum("ts,bsn->btn", k, a)


def presynaptic_trace(a: torch.Tensor, decay: float, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """ā[t] = decay·ā[t−1] + a[t−1], ā[0] = 0, for a [B, T, n]."""
    filtered = leaky_filter(a, decay, kernel)
    return torch.cat([torch.zeros_like(filtered[:, :1]), filtered[:, :-1]], dim=1)


def pseudo_derivative(v: torch.Tensor, thr: float, gamma: float) -> torch.Tensor:
    """ψ = γ·max(0, 1 − |v − thr|/thr): the LIF surrogate of dz/dv (seed's triangle)."""
    return gamma * torch.clamp(1.0 - (v - thr).abs() / thr, min=0.0)


# --- forward pass --------------------------------------------------------------------------


def _at(w: torch.Tensor, t: int) -> torch.Tensor:
    return w[t] if w.dim() == 3 else w


def input_currents(x: torch.Tensor, w_in: torch.Tensor) -> torch.Tensor:
    """W_in·x[t] for all t at once: x [B, T, I], w_in [R, I] or [T, R, I] -> [B, T, R]."""
    if w_in.dim() == 3:
        return torch.einsum("tri,bti->btr", w_in, x)
    return x @ w_in.t()


@contextlib.contextmanager
def _one_thread(device: torch.device):
    """Run the time loop on one CPU thread. Its ops are small (a step's reads of the spiking
    columns, at most a few 10^4 elements); an OpenMP parallel region per op gains little, and
    on a busy machine each one waits for a descheduled worker thread: measured 100x slower
    with 2 threads on 2 loaded cores. The matrix products outside the loop keep every thread."""
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def lif_forward(x: torch.Tensor, w: Synapses, cfg: EpropConfig) -> dict[str, torch.Tensor]:
    """Run the network on x [B, T, n_in]; returns v, z [B, T, R] and y [B, T, n_out].

    Only the recurrence is a Python loop over time (a few small tensor ops per step); the
    input and readout currents are computed for all steps at once.
    """
    batch, steps, _ = x.shape
    alpha, thr = cfg.alpha, cfg.thr
    drive = w.input_currents(x)
    v_t = torch.zeros(batch, cfg.n_rec, dtype=x.dtype, device=x.device)
    z_t = torch.zeros_like(v_t)
    vs, zs = [v_t], [z_t]
    with _one_thread(x.device):
        for t in range(steps - 1):
            v_t = alpha * v_t + drive[:, t] + w.recurrent_current(t, z_t) - thr * z_t
            z_t = (v_t > thr).to(x.dtype)
            vs.append(v_t)
            zs.append(z_t)
    v, z = torch.stack(vs, 1), torch.stack(zs, 1)
    y = leaky_filter(w.readout_currents(z), cfg.kappa)
    return {"v": v, "z": z, "y": y}


# --- e-prop gradients ----------------------------------------------------------------------


def firing_rate_hz(z: torch.Tensor, dt: float) -> torch.Tensor:
    """Mean rate per unit over batch and time (Hz): z [B, T, R] -> [R]."""
    return z.mean(dim=(0, 1)) / dt


def learning_signal(err: torch.Tensor, z: torch.Tensor, w_fb: torch.Tensor,
                    cfg: EpropConfig) -> torch.Tensor:
    """L[b, t, j] = Σ_k err[b, t, k]·B_jk + c_reg·(f_j − f0) (B = w_fbᵀ)."""
    rate_term = cfg.reg * (firing_rate_hz(z, cfg.dt) - cfg.f0)
    return err @ w_fb + rate_term


def eprop_gradients(x: torch.Tensor, out: dict[str, torch.Tensor], target: torch.Tensor,
                    w_fb: torch.Tensor, cfg: EpropConfig, clip: bool = True) -> dict[str, torch.Tensor]:
    """e-prop gradients of one batch, summed over batch and time: grad_in, grad_rec, grad_out.

    Vectorised evaluation of the online sums (module docstring); ``w_fb`` [n_out, R] is W_out
    itself for symmetric feedback. Clamped to ±``cfg.grad_clip`` when ``clip``.
    """
    steps = x.shape[1]
    v, z, y = out["v"], out["z"], out["y"]
    k_alpha = decay_kernel(steps, cfg.alpha, x.device, x.dtype)
    k_kappa = decay_kernel(steps, cfg.kappa, x.device, x.dtype)
    err = y - target
    psi = pseudo_derivative(v, cfg.thr, cfg.gamma)
    # Σ_t L[t]·F_κ(ψ x̄)[t] = Σ_t (F_κᵀ L)[t]·ψ[t]·x̄[t]
    signal = torch.einsum("st,bsn->btn", k_kappa, learning_signal(err, z, w_fb, cfg)) * psi
    flat = signal.reshape(-1, cfg.n_rec)
    x_bar = presynaptic_trace(x, cfg.alpha, k_alpha).reshape(-1, cfg.n_in)
    z_bar = presynaptic_trace(z, cfg.alpha, k_alpha).reshape(-1, cfg.n_rec)
    z_hat = leaky_filter(z, cfg.kappa, k_kappa).reshape(-1, cfg.n_rec)
    grads = {
        "grad_in": flat.t() @ x_bar,
        "grad_rec": (flat.t() @ z_bar) * no_autapse_mask(cfg.n_rec, x.device, x.dtype),
        "grad_out": err.reshape(-1, cfg.n_out).t() @ z_hat,
    }
    if clip:
        grads = {k: g.clamp(-cfg.grad_clip, cfg.grad_clip) for k, g in grads.items()}
    return grads


class OnlineEprop:
    """The online form: call :meth:`step` once per time step, read :attr:`grads` at the end.

    State is O(R·I + R·R) per batch element (traces and their κ-filtered eligibilities); no
    past is stored. The firing-rate term needs the sequence's rate, known only at its end, so
    the online learner takes c_reg = 0 unless given the rate (``rate_hz``) in advance.
    """

    def __init__(self, cfg: EpropConfig, w_fb: torch.Tensor, batch: int,
                 rate_hz: torch.Tensor | None = None) -> None:
        self.cfg, self.w_fb = cfg, w_fb
        dev, dt = w_fb.device, w_fb.dtype
        r, i, o = cfg.n_rec, cfg.n_in, cfg.n_out
        zeros = lambda *s: torch.zeros(*s, device=dev, dtype=dt)  # noqa: E731
        self.x_bar, self.z_bar, self.z_hat = zeros(batch, i), zeros(batch, r), zeros(batch, r)
        self.e_in, self.e_rec = zeros(batch, r, i), zeros(batch, r, r)
        self.x_prev, self.z_prev = zeros(batch, i), zeros(batch, r)
        self.rate_term = zeros(r) if rate_hz is None else cfg.reg * (rate_hz - cfg.f0)
        self.grads = {"grad_in": zeros(r, i), "grad_rec": zeros(r, r), "grad_out": zeros(o, r)}

    def step(self, x_t: torch.Tensor, v_t: torch.Tensor, z_t: torch.Tensor, err_t: torch.Tensor) -> None:
        """Advance with this step's input x[t], membrane v[t], spikes z[t] and error e[t]."""
        cfg = self.cfg
        self.x_bar = cfg.alpha * self.x_bar + self.x_prev
        self.z_bar = cfg.alpha * self.z_bar + self.z_prev
        self.z_hat = cfg.kappa * self.z_hat + z_t
        psi = pseudo_derivative(v_t, cfg.thr, cfg.gamma)
        self.e_in = cfg.kappa * self.e_in + psi[:, :, None] * self.x_bar[:, None, :]
        self.e_rec = cfg.kappa * self.e_rec + psi[:, :, None] * self.z_bar[:, None, :]
        signal = err_t @ self.w_fb + self.rate_term
        self.grads["grad_in"] += torch.einsum("br,bri->ri", signal, self.e_in)
        self.grads["grad_rec"] += torch.einsum("br,brj->rj", signal, self.e_rec) * no_autapse_mask(
            cfg.n_rec, v_t.device, v_t.dtype)
        self.grads["grad_out"] += err_t.t() @ self.z_hat
        self.x_prev, self.z_prev = x_t, z_t


# --- BPTT reference (tests) ----------------------------------------------------------------


class _SpikeFn(torch.autograd.Function):
    """H(v − thr) forward, the e-prop pseudo-derivative backward.

    Once differentiable (choice): ψ is a first-order surrogate for dH/dv (0 almost
    everywhere), and no function has value H and derivative ψ, so dψ/dv is the second
    derivative of nothing the forward computes. A double backward is refused (an error)
    instead of returning it."""

    @staticmethod
    def forward(ctx, v, thr, gamma):
        ctx.save_for_backward(v)
        ctx.thr, ctx.gamma = thr, gamma
        return (v > thr).to(v.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * pseudo_derivative(v, ctx.thr, ctx.gamma), None, None


def bptt_gradients(x: torch.Tensor, target: torch.Tensor, weights: dict[str, torch.Tensor],
                   cfg: EpropConfig) -> dict[str, torch.Tensor]:
    """Exact gradients of E = ½Σ(y − y*)² by backpropagation through time (same forward pass,
    same pseudo-derivative; no rate regulariser): the reference e-prop approximates."""
    w = {k: weights[k].detach().clone().requires_grad_(True) for k in ("w_in", "w_rec", "w_out")}
    w_rec = w["w_rec"] * no_autapse_mask(cfg.n_rec, x.device, x.dtype)
    batch, steps, _ = x.shape
    v_t = torch.zeros(batch, cfg.n_rec, dtype=x.dtype, device=x.device)
    z_t = torch.zeros_like(v_t)
    zs = [z_t]
    for t in range(steps - 1):
        v_t = cfg.alpha * v_t + x[:, t] @ w["w_in"].t() + z_t @ w_rec.t() - cfg.thr * z_t
        z_t = _SpikeFn.apply(v_t, cfg.thr, cfg.gamma)
        zs.append(z_t)
    y = leaky_filter(torch.stack(zs, 1) @ w["w_out"].t(), cfg.kappa)
    loss = 0.5 * ((y - target) ** 2).sum()
    g_in, g_rec, g_out = torch.autograd.grad(loss, [w["w_in"], w["w_rec"], w["w_out"]])
    return {"grad_in": g_in, "grad_rec": g_rec, "grad_out": g_out}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two tensors seen as flat vectors."""
    a, b = a.flatten().double(), b.flatten().double()
    return float((a @ b) / (a.norm() * b.norm()).clamp(min=1e-300))
