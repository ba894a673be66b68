"""Tasks for in-situ Manhattan-rule training: the seed's 4-bit task and Prezioso's 3×3 letters.

A :class:`Task` holds binary input patterns, one-hot-or-not targets per neuron, how bits become
read voltages, and the hyperparameters the task was stated with (β, targets, K, shift spread,
epochs). Those hyperparameters refer to the seed's device curve, whose range (G(M) − G(0)) is
:data:`REFERENCE_RANGE`; :func:`spicegrad.manhattan.model.scale_to_curve` carries them over to
another device curve.

* ``seed4`` (seed 001): 4 inputs, bit 0 -> −0.1 V, bit 1 -> +0.1 V; 2 neurons; six training
  patterns 0001->01, 0010->10, 0110->10, 1001->01, 1101->01, 1110->10; the other ten 4-bit
  patterns are the test set (unlabelled: the seed gives no labels for them). β = 20000 /A,
  targets ±0.8, K = 10, shifts Exponential(scale 1/55845 S) centred to mean 0, 48 epochs.
* ``letters`` (Prezioso et al., Nature 521, 61 (2015)): 3×3 images of z, v, n, pixel 1 (dark)
  -> +0.1 V, 0 -> −0.1 V, plus a bias input held at +0.1 V (choice: the paper's bias row is a
  constant input; its sign is immaterial to a trained bias weight), so 10 inputs; 3 neurons, one
  per letter. Training set: each letter and its nine one-pixel-flipped variants (30 patterns);
  test set: every two-pixel-flipped variant (108). (choice) The letter bitmaps, row by row::

      z: ##.   v: #.#   n: .#.
         .#.      #.#      #.#
         .##      .#.      #.#

  Hyperparameters as for seed4 except β = 50000 /A (choice, from a scan over 200 runs each of
  β = 2e4, 5e4, 1e5, 2e5 /A with 48 epochs: 5e4 converged most often on the MSS and PCM curves,
  77 % and 45 %; with SET-only Manhattan steps every synapse moves every epoch, and a steeper
  tanh lets 30 patterns × 3 neurons clear ±0.8 before the devices saturate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

#: G(0) of the seed's measured curve (S)
SEED_G0 = 7.07e-4
#: range G(M) − G(0) of the seed's measured curve (S): 51 points from 7.07e-4 S to 9.76e-4 S
REFERENCE_RANGE = 9.76e-4 - SEED_G0
#: the seed's read-out gain K (1) and shift scale (S)
SEED_K = 10.0
SEED_SHIFT_SCALE = 1.0 / 55845.0


@dataclass(frozen=True)
class Task:
    """Patterns (bits) and targets, read voltages and the task's stated hyperparameters.

    ``x_bits`` [P, inputs] in {0, 1} (bias inputs included); ``y`` [P, neurons] in {0, 1};
    ``v0``/``v1``: read voltage (V) of bit 0 and bit 1; ``beta`` (1/A); ``targets`` (negative,
    positive) activation targets; ``k`` (1); ``shift_scale`` (S); ``epochs``.
    """

    name: str
    x_bits: np.ndarray
    y: np.ndarray
    test_bits: np.ndarray
    v0: float = -0.1
    v1: float = 0.1
    beta: float = 20000.0
    targets: tuple[float, float] = (-0.8, 0.8)
    k: float = SEED_K
    shift_scale: float = SEED_SHIFT_SCALE
    epochs: int = 48
    test_y: np.ndarray | None = None
    pattern_labels: tuple[str, ...] = field(default=())

    @property
    def inputs(self) -> int:
        return int(self.x_bits.shape[1])

    @property
    def neurons(self) -> int:
        return int(self.y.shape[1])

    def voltages(self, bits: np.ndarray | None = None) -> np.ndarray:
        """Read voltages (V) of ``bits`` (default: the training patterns), [P, inputs]."""
        b = self.x_bits if bits is None else np.asarray(bits)
        return np.where(b != 0, self.v1, self.v0).astype(float)


def _bits(text: str) -> list[int]:
    return [int(c) for c in text]


def seed4() -> Task:
    """The seed's 4-input, 2-neuron task (see the module docstring)."""
    train = {"0001": "01", "0010": "10", "0110": "10", "1001": "01", "1101": "01", "1110": "10"}
    test = [f"{n:04b}" for n in range(16) if f"{n:04b}" not in train]
    return Task(
        name="seed4",
        x_bits=np.array([_bits(p) for p in train]),
        y=np.array([_bits(t) for t in train.values()]),
        test_bits=np.array([_bits(p) for p in test]),
        pattern_labels=tuple(f"{p}→{t}" for p, t in train.items()),
    )


LETTERS = {
    "z": "110010011",
    "v": "101101010",
    "n": "010101101",
}


def _flips(image: np.ndarray, count: int) -> list[np.ndarray]:
    out = []
    for idx in itertools.combinations(range(image.size), count):
        flipped = image.copy()
        flipped[list(idx)] ^= 1
        out.append(flipped)
    return out


def letters() -> Task:
    """Prezioso et al.'s 3×3 letters z, v, n with one-pixel-flipped variants and a bias input."""
    xs, ys, labels, test_x, test_y = [], [], [], [], []
    for k, (name, text) in enumerate(LETTERS.items()):
        image = np.array(_bits(text))
        onehot = np.eye(len(LETTERS), dtype=int)[k]
        for i, variant in enumerate([image, *_flips(image, 1)]):
            xs.append(np.append(variant, 1))
            ys.append(onehot)
            labels.append(name if i == 0 else f"{name}~{i}")
        for variant in _flips(image, 2):
            test_x.append(np.append(variant, 1))
            test_y.append(onehot)
    return Task(
        name="letters",
        x_bits=np.array(xs),
        y=np.array(ys),
        test_bits=np.array(test_x),
        test_y=np.array(test_y),
        beta=50000.0,
        pattern_labels=tuple(labels),
    )


TASKS = {"seed4": seed4, "letters": letters}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task = {name!r}: must be one of {', '.join(map(repr, TASKS))}")
    return TASKS[name]()
