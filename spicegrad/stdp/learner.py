r"""Unsupervised winner-take-all learning of four 5×5 letters through the device-level STDP window.

Network: 25 input neurons (one per pixel) fully connected by MSS synapses (state x_ij, conductance
G = x/r_on + (1 − x)/r_off) to ``n_out`` output neurons with winner-take-all inhibition. Zhou,
Choi, Eshraghian, Kang (arXiv:2203.01416) report 97.5 % on a 4-pattern task with STDP that
emerges from pre/post waveforms across the synapses; here the plasticity is the **measured**
window W(Δt) = Δx of one pre/post pair (:mod:`spicegrad.stdp.window`, twin or ngspice curve,
linearly interpolated, 0 beyond the measured Δt range).

Event-driven (choice): nothing is integrated in time. Each presentation is a list of spike
times; every synapse sees at most one pre and one post spike per presentation — exactly the
measured pair protocol — so its change is W(t_post − t_pre) of that pair. A spike without a
partner changes nothing (choice: the device's lone-spike changes, ≈ ∓0.016 at gain 2.5, are
not modelled separately; in the window they appear as its ≈ 0 tails). Between presentations the
MSS state is held (its drift toward 0.5 at v = 0 has a time constant of ≈ 1.9 s, ignored).

One presentation (noise ``p``: every pixel flipped independently with probability p):

1. **Input code** (choice: a two-phase latency code, every input fires once): a pixel that is
   ON fires in the early volley at t = 0; a pixel that is OFF fires late, at
   t_post − argmin W (after the decision). Each spike time gets Gaussian jitter of
   ``jitter`` = 50 µs so the learner samples the window's shape, not one point.
2. **Winner**: the early volley drives each output j with the column current
   Σ_{i ON} G_ij·v_read; the output with the largest current minus its adaptive threshold
   θ_j fires (choice: a conductance-ordered first spike, the others inhibited), at
   t_post = argmax W after the volley (choice: the winner's latency is put at the window's
   potentiation peak).
3. **Plasticity** for the winner only: ON pixels pair pre-before-post (Δt ≈ +argmax W:
   potentiation), OFF pixels post-before-pre (Δt ≈ argmin W: depression). The window was
   measured from x0; at another x the change is scaled by the MSS soft bounds — by
   (1 − x)/(1 − x0) when W > 0 (OFF->ON rate ∝ 1 − x) and x/x0 when W < 0 (ON->OFF rate ∝ x)
   (choice, first order), then x is clipped to [0, 1].
4. **Homeostasis** (choice, Diehl & Cook 2015 style): θ_j grows by ``theta_plus`` per win and
   decays by the factor (1 − ``theta_decay``) per presentation, so every output wins some
   patterns. θ is in units of the drive Σ_{i ON} x_ij (one fully ON synapse = 1); it is not
   used at test time.

Read-out (unsupervised, then labelled): after training each output is labelled with the letter
for which it won most often over one labelled pass of the training presentations; a held-out
noisy presentation is recognised when the winner (largest column current, no θ) carries its
letter's label. Deterministic for a seed (numpy ``default_rng``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .._checks import require_range

#: four 5×5 letters with pairwise Hamming distance >= 12 (chosen for that among 11 candidates)
LETTERS: dict[str, tuple[str, ...]] = {
    "T": ("#####", "..#..", "..#..", "..#..", "..#.."),
    "X": ("#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", ".###."),
    "H": ("#...#", "#...#", "#####", "#...#", "#...#"),
}


def letter_patterns(letters: dict[str, tuple[str, ...]] = LETTERS) -> tuple[list[str], np.ndarray]:
    """(names, patterns [n_letters, 25] of 0/1)."""
    names = list(letters)
    pats = np.array([[c == "#" for row in letters[k] for c in row] for k in names], dtype=float)
    return names, pats


def noisy(patterns: np.ndarray, labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Presentations of ``patterns[labels]`` with every pixel flipped with probability ``noise``."""
    clean = patterns[labels]
    flips = rng.random(clean.shape) < noise
    return np.where(flips, 1.0 - clean, clean)


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Settings of the winner-take-all learner (SI units; see the module docstring)."""

    n_out: int = 4
    epochs: int = 10
    train_per_letter: int = 25
    test_per_letter: int = 100
    noise: float = 0.1
    jitter: float = 50e-6
    x_init: float = 0.5
    x_init_spread: float = 0.05
    theta_plus: float = 0.5
    theta_decay: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_out", "epochs", "train_per_letter", "test_per_letter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LearnerConfig.{name} = {value!r}: must be an integer >= 1")
        require_range("LearnerConfig", "noise", self.noise, 0.0, 1.0, hi_open=True)
        require_range("LearnerConfig", "jitter", self.jitter, 0.0, float("inf"))
        require_range("LearnerConfig", "x_init", self.x_init, 0.0, 1.0)
        require_range("LearnerConfig", "x_init_spread", self.x_init_spread, 0.0, 0.5)
        require_range("LearnerConfig", "theta_plus", self.theta_plus, 0.0, float("inf"))
        require_range("LearnerConfig", "theta_decay", self.theta_decay, 0.0, 1.0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"LearnerConfig.seed = {self.seed!r}: must be an integer")


@dataclasses.dataclass
class LearnerResult:
    """Weights (x [25, n_out]), labels per output (-1: never won), held-out accuracy before
    training and after each epoch, and the nearest-template accuracy on the same held-out set
    (a clean-template classifier: what the noise leaves recognisable)."""

    x: np.ndarray
    labels: np.ndarray
    accuracy: list[float]
    accuracy_before: float
    template_accuracy: float
    letters: list[str]
    wins: np.ndarray
    config: LearnerConfig

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1]


class WindowRule:
    """Δx of a pair from a window curve W(Δt), with the MSS soft-bound scaling around x0."""

    def __init__(self, window: Callable[[np.ndarray], np.ndarray], delta_t: np.ndarray, x0: float):
        self.window = window
        grid = np.linspace(float(np.min(delta_t)), float(np.max(delta_t)), 4001)
        w = window(grid)
        if not np.any(w > 0) or not np.any(w < 0):
            raise ValueError("the STDP window must have both a potentiating (Δx > 0) and a depressing (Δx < 0) part")
        self.t_ltp = float(grid[np.argmax(w)])  # Δt of the largest potentiation (s)
        self.t_ltd = float(grid[np.argmin(w)])  # Δt of the largest depression (s)
        self.peak = float(np.max(np.abs(w)))
        self.x0 = x0

    def dx(self, delta_t: np.ndarray, x: np.ndarray) -> np.ndarray:
        w = self.window(delta_t)
        scale = np.where(w > 0, (1.0 - x) / max(1.0 - self.x0, 1e-12), x / max(self.x0, 1e-12))
        return w * scale


def _winner(x: np.ndarray, early: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
    """Winner per presentation: argmax of the column drive Σ_{i early} x_ij (the G_off part is
    common to all columns) minus θ."""
    drive = early @ x
    if theta is not None:
        drive = drive - theta
    return np.argmax(drive, axis=-1)


def evaluate(x: np.ndarray, labels: np.ndarray, presentations: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of presentations whose winner carries the true letter's label."""
    return float(np.mean(labels[_winner(x, presentations)] == truth))


def assign_labels(x: np.ndarray, presentations: np.ndarray, truth: np.ndarray, n_letters: int) -> np.ndarray:
    """Label of each output: the letter it wins most often on ``presentations`` (-1: never wins)."""
    won = _winner(x, presentations)
    labels = np.full(x.shape[1], -1)
    for j in range(x.shape[1]):
        counts = np.bincount(truth[won == j], minlength=n_letters)
        if counts.sum():
            labels[j] = int(np.argmax(counts))
    return labels


def template_accuracy(patterns: np.ndarray, presentations: np.ndarray, truth: np.ndarray) -> float:
    """Accuracy of the nearest clean template in Hamming distance (ties: the first letter)."""
    dist = np.abs(presentations[:, None, :] - patterns[None, :, :]).sum(-1)
    return float(np.mean(np.argmin(dist, axis=1) == truth))


def train(rule: WindowRule, cfg: LearnerConfig, progress: bool = False) -> LearnerResult:
    """Train the winner-take-all layer; accuracy on the held-out set after every epoch."""
    from .._progress import progress as bar

    rng = np.random.default_rng(cfg.seed)
    names, pats = letter_patterns()
    n_letters, n_in = pats.shape
    x = np.clip(cfg.x_init + cfg.x_init_spread * rng.uniform(-1, 1, (n_in, cfg.n_out)), 0.0, 1.0)
    theta = np.zeros(cfg.n_out)
    test_rng = np.random.default_rng([cfg.seed, 1])  # held-out set: its own stream
    test_truth = np.repeat(np.arange(n_letters), cfg.test_per_letter)
    test = noisy(pats, test_truth, cfg.noise, test_rng)
    train_truth = np.repeat(np.arange(n_letters), cfg.train_per_letter)
    label_set = noisy(pats, train_truth, cfg.noise, rng)  # the labelling pass
    accuracy, wins = [], np.zeros(cfg.n_out, dtype=int)
    before = evaluate(x, assign_labels(x, label_set, train_truth, n_letters), test, test_truth)
    epochs = bar(range(cfg.epochs), enabled=progress, desc="stdp train", unit="epoch")
    for _ in epochs:
        order = rng.permutation(train_truth)
        for label in order:
            early = noisy(pats, np.array([label]), cfg.noise, rng)[0]
            j = int(_winner(x, early, theta))
            wins[j] += 1
            t_post = rule.t_ltp + cfg.jitter * rng.standard_normal()
            t_in = np.where(early > 0, 0.0, t_post - rule.t_ltd) + cfg.jitter * rng.standard_normal(n_in)
            x[:, j] = np.clip(x[:, j] + rule.dx(t_post - t_in, x[:, j]), 0.0, 1.0)
            theta *= 1.0 - cfg.theta_decay
            theta[j] += cfg.theta_plus
        labels = assign_labels(x, label_set, train_truth, n_letters)
        accuracy.append(evaluate(x, labels, test, test_truth))
        epochs.set_postfix(accuracy=f"{accuracy[-1]:.3f}")
    return LearnerResult(x, labels, accuracy, before, template_accuracy(pats, test, test_truth), names, wins, cfg)
