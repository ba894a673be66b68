"""Why SPICE in the loop matters: a two-layer network on crossbars with periphery, three ways.

The network (:class:`CrossbarMLP`): images downsampled to ``image_size``² pixels in [0, 1] drive
the rows of crossbar 1 at ``v_read``·pixel (V); its outputs y1 (V, after TIA and ADC) pass a
digital ReLU and a DAC back to row voltages ``v_read``·clamp(y1/s, 0, 1) on crossbar 2, s the
``hidden_scale`` (V, at most the ADC's full scale), whose outputs y2 (V) over ``temperature`` (V) are
the logits. Both crossbars carry the same periphery (default: 1T1R cells, TIAs of finite gain
and ±1 V swing, 6-bit ADCs: :data:`DEFAULT_PERIPHERY`).

One seed of the experiment (:func:`run_seed`):

* phase ``twin``: trained on the ideal twin (forward and backward), the epoch selected on the
  twin's validation accuracy; its test accuracy on the twin is (c) and in ngspice (a);
* phase ``spice``: trained with SPICE in the loop from the same initial weights (forward in
  ngspice, backward through the twin), the epoch selected on the circuit's validation accuracy;
  its test accuracy in ngspice is (b).

The data: the first ``train`` images of the training file, validation the last ``validation``
images of it (disjoint), test the whole test file (or its first ``test``); every accuracy on the
test split is measured once, after selection. After every epoch a phase writes an atomic
checkpoint; a stopped run resumes from it (``resume=True``), and an ngspice failure stops the
run with ngspice's message, the last checkpoint untouched.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write_json, load_tensors, require_finite_tensors, save_tensors
from .._progress import progress
from ..crossbar.topology import CrossbarSpec
from ..errors import InputError, TrainingDiverged
from ..spice.errors import SpiceError
from .config import ExperimentConfig
from .layer import SpiceCrossbar

CHECKPOINT_FORMAT = "spicegrad-spiceloop-1"
CHECKPOINT_NAME = "checkpoint.pt"
PHASES = ("twin", "spice")
class CrossbarMLP(nn.Module):
    """Two :class:`~spicegrad.spiceloop.layer.SpiceCrossbar` layers with a digital ReLU/DAC
    between them (module docstring)."""

    def __init__(self, cfg: ExperimentConfig, n_in: int, n_out: int, client=None):
        super().__init__()
        gen = torch.Generator().manual_seed(cfg.seed)
        p = cfg.periph
        layers = []
        for rows, cols in ((n_in, cfg.hidden), (cfg.hidden, n_out)):
            w = (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1) * cfg.w_init
            spec = CrossbarSpec(rows, cols, r_wire=cfg.r_wire)
            layers.append(SpiceCrossbar(spec, p, cfg.g_min, cfg.g_max, cfg.w_max, weight=w, client=client))
        self.l1, self.l2 = layers
        self.cfg = cfg

    def set_mode(self, mode: str) -> None:
        self.l1.mode = self.l2.mode = mode

    def hidden_rows(self, y1: torch.Tensor) -> torch.Tensor:
        """The DAC: row voltages v_read·clamp(y1/s, 0, 1) of layer 2, s = ``hidden_scale``
        (None: the read-out's full scale)."""
        s = self.cfg.full_scale if self.cfg.hidden_scale is None else self.cfg.hidden_scale
        return torch.clamp(y1, 0.0, s) * (self.cfg.v_read / s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.l1(x * self.cfg.v_read)
        return self.l2(self.hidden_rows(y1)) / self.cfg.temperature

    def layer_outputs(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """Circuit and twin outputs of both layers (V), each layer fed the circuit's own inputs."""
        with torch.no_grad():
            v1 = x * self.cfg.v_read
            c1, t1 = self.l1.circuit_outputs(v1), self.l1.twin_outputs(v1)
            v2 = self.hidden_rows(c1)
            c2, t2 = self.l2.circuit_outputs(v2), self.l2.twin_outputs(v2)
        return {"l1_circuit": c1.numpy(), "l1_twin": t1.numpy(), "l2_circuit": c2.numpy(), "l2_twin": t2.numpy()}

    def timing(self) -> dict:
        return {"render_s": self.l1.circuit.timing.render_s + self.l2.circuit.timing.render_s,
                "ngspice_s": self.l1.circuit.timing.ngspice_s + self.l2.circuit.timing.ngspice_s}


@dataclass
class Split:
    x: torch.Tensor  # [N, features] in [0, 1], float64
    y: torch.Tensor  # [N] int64


def load_splits(cfg: ExperimentConfig, data: str | Path | None = None) -> tuple[Split, Split, Split, int]:
    """(train, validation, test, classes) of the configured dataset (module docstring)."""
    from ..datasets import load_dataset

    full = load_dataset(cfg.dataset, "train", data, size=cfg.image_size)
    if cfg.train + cfg.validation > len(full):
        raise InputError(f"train {cfg.train} + validation {cfg.validation} exceed the {len(full)} training "
                         f"images of {cfg.dataset}")
    test = load_dataset(cfg.dataset, "test", data, subset=cfg.test, size=cfg.image_size)
    if cfg.test is not None and len(test) < cfg.test:
        raise InputError(f"test {cfg.test}: {cfg.dataset} has {len(test)} test images")
    flat = full.flat().to(torch.float64)

    def split(x, y):
        return Split(x.reshape(len(y), -1).to(torch.float64), y)

    return (split(flat[: cfg.train], full.labels[: cfg.train]),
            split(flat[-cfg.validation:], full.labels[-cfg.validation:]),
            split(test.flat(), test.labels), len(full.classes))


def evaluate(net: CrossbarMLP, data: Split, mode: str, batch: int = 1000) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``net`` on ``data`` in ``mode`` ("twin" or "spice")."""
    net.set_mode(mode)
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(data.y), batch):
            logits = net(data.x[i : i + batch])
            y = data.y[i : i + batch]
            correct += int((logits.argmax(1) == y).sum())
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
    return correct / len(data.y), loss / len(data.y)


def _weights(net: CrossbarMLP) -> dict[str, torch.Tensor]:
    return {"l1": net.l1.weight.detach().clone(), "l2": net.l2.weight.detach().clone()}


def load_weights(net: CrossbarMLP, weights: dict[str, torch.Tensor]) -> None:
    """Copy weights ``{"l1": [R1, C1], "l2": [R2, C2]}`` (as a checkpoint's phases hold them) into ``net``."""
    with torch.no_grad():
        net.l1.weight.copy_(weights["l1"])
        net.l2.weight.copy_(weights["l2"])


class Checkpoint:
    """``DIR/checkpoint.pt``: the configuration and, per phase, the state after its last
    completed epoch (weights, optimiser, history, the validation-selected weights)."""

    def __init__(self, path: Path, cfg: ExperimentConfig):
        self.path, self.cfg = path, cfg
        self.state: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "config": asdict(cfg), "phases": {}}

    @classmethod
    def resume(cls, path: Path, cfg: ExperimentConfig) -> Checkpoint:
        state = load_tensors(path)
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InputError(f"{path}: format {got!r}, expected {CHECKPOINT_FORMAT!r} (not a spice-loop checkpoint)")
        saved = ExperimentConfig.from_dict(state.get("config"))
        diffs = [f"{k}: checkpoint {v!r}, now {getattr(cfg, k)!r}" for k, v in asdict(saved).items()
                 if k != "epochs" and v != getattr(cfg, k)]
        if diffs:
            raise InputError(f"{path}: the checkpoint was written with another configuration ({'; '.join(diffs)}); "
                             "resume with the same options or use another --out")
        phases = state.get("phases")
        if not isinstance(phases, dict) or set(phases) - set(PHASES):
            raise InputError(f"{path}: phases {phases!r}: expected a table of {PHASES}")
        ckpt = cls(path, cfg)
        ckpt.state["phases"] = phases
        return ckpt

    def phase(self, name: str) -> dict | None:
        return self.state["phases"].get(name)

    def save(self, name: str, phase: dict) -> None:
        self.state["phases"][name] = phase
        save_tensors(self.path, self.state)


def _kept(ckpt: Checkpoint, phase: dict) -> str:
    if not ckpt.path.exists():
        return "no checkpoint written yet"
    return f"last good checkpoint: {ckpt.path} (phase at epoch {phase['epoch']})"


#: what every epoch record of a phase's history holds
HISTORY_KEYS = {"epoch": int, "train_loss": float, "val_accuracy": float, "val_loss": float, "train_s": float,
                "wall_s": float, "ngspice_s": float}


def restore_optimizer(opt: torch.optim.Optimizer, saved: object, where: str) -> None:
    """Adam's state from a checkpoint: its moments must match the parameters' shapes and be
    finite (second moments >= 0); its settings (lr, betas, ...) are the configuration's, never
    the file's."""
    settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]]
    try:
        opt.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise InputError(f"{where}: the optimiser state does not fit the network ({exc})") from None
    for group, mine in zip(opt.param_groups, settings, strict=True):
        group.update(mine)
    for p in (p for g in opt.param_groups for p in g["params"]):
        state = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            m = state.get(key)
            if m is None:
                continue
            if not isinstance(m, torch.Tensor) or m.device.type != "cpu" or m.shape != p.shape or m.dtype != p.dtype:
                raise InputError(f"{where}: optimiser {key} of shape {getattr(m, 'shape', type(m).__name__)}, "
                                 f"expected a {p.dtype} tensor of shape {tuple(p.shape)}")
            if not bool(torch.isfinite(m).all()) or (key == "exp_avg_sq" and bool((m < 0).any())):
                raise InputError(f"{where}: optimiser {key} holds non-finite or negative values: the file is damaged")
        step = state.get("step")
        if step is not None and not (isinstance(step, torch.Tensor) and step.numel() == 1
                                     and bool(torch.isfinite(step).all()) and float(step) >= 0):
            raise InputError(f"{where}: optimiser step = {step!r}, expected a count >= 0")


def check_phase(phase: object, net: CrossbarMLP, where: str) -> None:
    """A phase read from a checkpoint: its epoch count, history and weights (current and
    selected) of the network's shapes, real and finite; :class:`InputError` naming what is wrong."""
    if not isinstance(phase, dict):
        raise InputError(f"{where}: a {type(phase).__name__}, expected a table")
    epoch = phase.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise InputError(f"{where}: epoch = {epoch!r}, expected a count of completed epochs >= 0")
    history = phase.get("history")
    if not isinstance(history, list) or len(history) != epoch:
        raise InputError(f"{where}: history must be a list of {epoch} epoch records")
    for k, row in enumerate(history, 1):
        if not isinstance(row, dict) or set(row) != set(HISTORY_KEYS) or row["epoch"] != k or not all(
                type(row[key]) is kind for key, kind in HISTORY_KEYS.items()):
            raise InputError(f"{where}: history record {k} = {row!r}: expected {{{', '.join(HISTORY_KEYS)}}} "
                             f"with epoch {k}")
    best = phase.get("best")
    if (best is None) != (epoch == 0) or best is not None and not (
            isinstance(best, dict) and type(best.get("val_accuracy")) is float
            and type(best.get("epoch")) is int and 1 <= best["epoch"] <= epoch):
        raise InputError(f"{where}: best = {best!r}: expected, after {epoch} epoch(s), a table of the selected "
                         "epoch, its val_accuracy and weights (none before the first epoch)")
    shapes = {"l1": tuple(net.l1.weight.shape), "l2": tuple(net.l2.weight.shape)}
    for key, weights in (("weights", phase.get("weights")), ("best weights", None if best is None else best.get("weights"))):
        if key == "best weights" and best is None:
            continue
        if not isinstance(weights, dict) or set(weights) != set(shapes):
            raise InputError(f"{where}: {key} must be a table of tensors l1, l2")
        for name, shape in shapes.items():
            w = weights[name]
            if (not isinstance(w, torch.Tensor) or not w.is_floating_point() or tuple(w.shape) != shape
                    or w.device.type != "cpu"):
                got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
                raise InputError(f"{where}: {key} {name} is {got}, expected a real CPU tensor of shape {shape}")
        require_finite_tensors(weights, f"{where}: {key}")


def train_phase(net: CrossbarMLP, mode: str, train: Split, val: Split, ckpt: Checkpoint, *,
                show_progress: bool = True, log=print) -> dict:
    """Train ``net`` in ``mode`` for the configured epochs (resuming the phase's checkpoint),
    select the epoch of best validation accuracy (measured in ``mode``); returns the phase."""
    cfg = ckpt.cfg
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    phase = ckpt.phase(mode)
    if phase is None:
        phase = {"epoch": 0, "history": [], "best": None, "weights": _weights(net)}
    else:
        check_phase(phase, net, f"{ckpt.path}: phase {mode}")
    load_weights(net, phase["weights"])
    if "optimizer" in phase:
        restore_optimizer(opt, phase["optimizer"], f"{ckpt.path}: phase {mode}")
    for epoch in range(phase["epoch"] + 1, cfg.epochs + 1):
        net.set_mode(mode)
        t0, spice0 = time.perf_counter(), net.timing()["ngspice_s"]
        order = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        batches = progress(range(0, len(order), cfg.batch), desc=f"{mode} epoch {epoch}/{cfg.epochs}",
                           enabled=show_progress, unit="batch")
        total, n = 0.0, 0
        for b, i in enumerate(batches):
            idx = order[i : i + cfg.batch]
            try:
                loss = nn.functional.cross_entropy(net(train.x[idx]), train.y[idx])
            except SpiceError as exc:
                raise SpiceError(f"{exc.message}\n  training stopped: phase {mode}, epoch {epoch}, batch {b + 1}; "
                                 f"{_kept(ckpt, phase)}", exc.line, exc.line_number) from None
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"phase {mode}, epoch {epoch}, batch {b + 1}: the loss is {float(loss)}; "
                                       f"{_kept(ckpt, phase)} (lower --lr, or check the periphery's values)")
            opt.zero_grad()
            loss.backward()
            opt.step()
            if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
                raise TrainingDiverged(f"phase {mode}, epoch {epoch}, batch {b + 1}: the weights left the finite "
                                       f"numbers; {_kept(ckpt, phase)} (lower --lr)")
            total, n = total + float(loss.detach()) * len(idx), n + len(idx)
        train_s = time.perf_counter() - t0
        val_acc, val_loss = evaluate(net, val, mode)
        wall = time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": total / n, "val_accuracy": val_acc, "val_loss": val_loss,
               "train_s": train_s, "wall_s": wall, "ngspice_s": net.timing()["ngspice_s"] - spice0}
        phase["history"].append(row)
        if phase["best"] is None or val_acc > phase["best"]["val_accuracy"]:
            phase["best"] = {"epoch": epoch, "val_accuracy": val_acc, "weights": _weights(net)}
        phase.update(epoch=epoch, weights=_weights(net), optimizer=opt.state_dict())
        ckpt.save(mode, phase)
        log(f"{mode} epoch {epoch}: train loss {row['train_loss']:.4f}, validation accuracy {val_acc:.4f} "
            f"({wall:.1f} s, {row['ngspice_s']:.1f} s in ngspice)")
    return phase


def mismatch(net: CrossbarMLP, x: torch.Tensor) -> dict:
    """RMS and largest circuit-minus-twin difference of each layer's outputs (V) on ``x``, and
    the outputs themselves (for the scatter plot)."""
    out = net.layer_outputs(x)
    stats = {}
    for layer in ("l1", "l2"):
        d = out[f"{layer}_circuit"] - out[f"{layer}_twin"]
        stats[layer] = {"rms_V": float(np.sqrt(np.mean(d**2))), "max_V": float(np.abs(d).max()),
                        "twin_rms_V": float(np.sqrt(np.mean(out[f"{layer}_twin"] ** 2)))}
    return {"stats": stats, "outputs": out}


def run_seed(cfg: ExperimentConfig, out: Path, data: str | Path | None = None, *, resume: bool = False,
             client=None, mismatch_samples: int = 500, show_progress: bool = True, log=print) -> dict:
    """One seed of the experiment into ``out`` (checkpoint, metrics.json, plots); returns the metrics."""
    from .plots import plot_mismatch, plot_run

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT_NAME
    if path.exists() and not resume:
        raise InputError(f"{path} exists: pass --resume to continue that run, or choose another --out")
    ckpt = Checkpoint.resume(path, cfg) if path.exists() else Checkpoint(path, cfg)
    train, val, test, classes = load_splits(cfg, data)
    net = CrossbarMLP(cfg, train.x.shape[1], classes, client)
    init = _weights(net)
    t0 = time.perf_counter()
    twin = train_phase(net, "twin", train, val, ckpt, show_progress=show_progress, log=log)
    load_weights(net, init)
    spice = train_phase(net, "spice", train, val, ckpt, show_progress=show_progress, log=log)
    train_wall = time.perf_counter() - t0

    probe = val.x[:mismatch_samples]
    load_weights(net, init)
    before = mismatch(net, probe)

    load_weights(net, twin["best"]["weights"])
    acc_c, _ = evaluate(net, test, "twin")
    acc_a, _ = evaluate(net, test, "spice")
    twin_after = mismatch(net, probe)
    load_weights(net, spice["best"]["weights"])
    acc_b, _ = evaluate(net, test, "spice")
    after = mismatch(net, probe)

    gap = acc_c - acc_a
    spice_epochs = spice["history"]
    metrics = {
        "protocol": "epoch selected on validation accuracy (twin phase: on the twin; spice phase: in ngspice); "
                    "test accuracy measured once, after selection",
        "config": asdict(cfg),
        "periphery": cfg.periph.describe(),
        "split": {"train": len(train.y), "validation": len(val.y), "test": len(test.y)},
        "test_accuracy": {"twin_trained_in_circuit": acc_a, "spice_trained_in_circuit": acc_b, "twin_trained_on_twin": acc_c},
        "gap_recovered": (acc_b - acc_a) / gap if gap > 0 else None,
        "selected_epoch": {"twin": twin["best"]["epoch"], "spice": spice["best"]["epoch"]},
        "val_accuracy": {"twin": twin["best"]["val_accuracy"], "spice": spice["best"]["val_accuracy"]},
        "history": {"twin": twin["history"], "spice": spice_epochs},
        "spice_epoch_wall_s": float(np.mean([r["wall_s"] for r in spice_epochs])) if spice_epochs else None,
        "spice_epoch_ngspice_share": (float(sum(r["ngspice_s"] for r in spice_epochs) / sum(r["wall_s"] for r in spice_epochs))
                                      if spice_epochs else None),
        "train_wall_s_this_session": train_wall,
        "mismatch": {"initial": before["stats"], "twin_trained": twin_after["stats"], "spice_trained": after["stats"]},
    }
    atomic_write_json(out / "metrics.json", metrics)
    plot_run(metrics, out / "accuracy.png")
    plot_mismatch(before["outputs"], after["outputs"], out / "mismatch.png")
    return metrics


def summarize(runs: list[dict]) -> dict:
    """Mean ± std (sample std, n - 1) over seeds of the three test accuracies and the gap recovered."""
    def stat(values):
        a = np.asarray(values, dtype=float)
        return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "values": a.tolist()}

    keys = ("twin_trained_in_circuit", "spice_trained_in_circuit", "twin_trained_on_twin")
    out = {k: stat([r["test_accuracy"][k] for r in runs]) for k in keys}
    a, b, c = (out[k]["mean"] for k in keys)
    out["gap_recovered_of_means"] = (b - a) / (c - a) if c > a else None
    out["seeds"] = [r["config"]["seed"] for r in runs]
    out["spice_epoch_wall_s"] = stat([r["spice_epoch_wall_s"] for r in runs])
    out["spice_epoch_ngspice_share"] = stat([r["spice_epoch_ngspice_share"] for r in runs])
    return out
