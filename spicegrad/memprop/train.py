"""MEMprop training loop: data, certified twins, Adam with projection, checkpoints, metrics, plots.

``train_memprop(MemPropTrainConfig(...), out_dir)`` is what ``spicegrad train memprop`` runs:

* before training, :func:`spicegrad.validate.require_certified` for the MIF configuration
  (preset, dt, integrator) and the synapse device's configuration (parameters, dt, its
  integrator; for MSS at read level: see :func:`certify`); a failing twin is refused unless ``allow_unvalidated``
  (recorded in the checkpoint and metrics). The synapses are static during a sample (see
  :mod:`.memprop`); their drift bound is computed from the voltages the network reaches and
  written to metrics.json.
* deterministic with ``seed``: initialisation from a seeded generator; epoch e's shuffle from a
  generator seeded by (seed, e), so a resumed run draws exactly the batches the uninterrupted
  run would have. (choice) The last incomplete training batch of an epoch is dropped (every
  step sees ``batch_size`` samples, and the compiled step keeps one shape); the test set is
  evaluated in full.
* (choice) **sound evaluation**: the last ``validation`` images of the training set (default
  :func:`validation_size`: 5,000 of Fashion-MNIST's 60,000, a twelfth of a subset) are held out,
  fixed, and never trained on; after every epoch the network is scored on them, and the epoch
  with the best validation accuracy (the earliest of ties) is the *selected* network. The test
  set is scored **once**, after the last epoch, with the selected network (``test_accuracy`` in
  metrics.json, with ``selected_epoch``); no choice sees it.
* after every epoch, an atomic checkpoint ``DIR/checkpoint.pt`` (model, Adam state, epoch,
  history, configuration, certificates, the selected network as ``best``), ``DIR/metrics.json``
  and the plots.
* a non-finite loss or gradient stops training with :class:`TrainingDiverged`, naming the
  layer and step (the batch is re-run with per-step checks); the last good checkpoint (previous
  epoch) is left untouched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._io import atomic_write_json, load_tensors, require_finite_tensors, save_tensors
from ..datasets import load_dataset
from ..errors import InputError, TrainingDiverged
from . import neuron_certs
from .drift import static_check
from .model import (
    MemPropConfig,
    MemPropNet,
    NonFiniteError,
    memprop_loss,
    predict,
)

CHECKPOINT_FORMAT = "spicegrad-memprop/1"
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(InputError):
    """A checkpoint is unreadable or does not match the requested configuration."""


@dataclasses.dataclass(frozen=True)
class MemPropTrainConfig:
    """A training run: data, schedule and the network (``net``)."""

    net: MemPropConfig = MemPropConfig()
    dataset: str = "fashion-mnist"
    image_size: int = 28
    train_subset: int | None = None
    test_subset: int | None = None
    validation: int | None = None  # training images held out at the end (None: validation_size)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-4
    lr_milestones: tuple[int, ...] = ()  # epochs after which lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    seed: int = 0
    allow_unvalidated: bool = False
    mif_lr: float = 1e-2  # Adam lr of the learned neurons' unconstrained parameters (net.learn_mif)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MemPropTrainConfig.{name} = {getattr(self, name)!r}: must be >= 1")
        if self.validation is not None and (isinstance(self.validation, bool) or not isinstance(self.validation, int)
                                            or self.validation < 1):
            raise ValueError(f"MemPropTrainConfig.validation = {self.validation!r}: the number of training images held "
                             "out for validation, an integer >= 1 (or None for the default)")
        for name in ("lr", "mif_lr"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"MemPropTrainConfig.{name} = {v!r}: must be > 0")
        milestones = tuple(int(m) for m in self.lr_milestones)
        if any(m < 1 for m in milestones) or list(milestones) != sorted(set(milestones)):
            raise ValueError(f"MemPropTrainConfig.lr_milestones = {self.lr_milestones!r}: need increasing epochs >= 1")
        object.__setattr__(self, "lr_milestones", milestones)
        if not (math.isfinite(self.lr_gamma) and 0 < self.lr_gamma <= 1):
            raise ValueError(f"MemPropTrainConfig.lr_gamma = {self.lr_gamma!r}: must lie in (0, 1]")
        if self.net.layers[0] != self.image_size**2:
            raise ValueError(
                f"network input {self.net.layers[0]} != image_size² = {self.image_size**2}: "
                "set the first layer to the number of pixels"
            )

    def lr_at(self, epoch: int) -> float:
        """Learning rate of epoch ``epoch`` (0-based): lr·gamma^(milestones passed), step decay."""
        return self.lr * self.lr_gamma ** sum(1 for m in self.lr_milestones if epoch >= m)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["net"] = self.net.to_dict()
        d["lr_milestones"] = list(self.lr_milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemPropTrainConfig:
        return cls(**{**d, "net": MemPropConfig.from_dict(d["net"])})


#: training images held out for validation from a full training set (Fashion-MNIST's last 5,000 of 60,000)
VALIDATION_FULL = 5000


def validation_size(n_train: int, requested: int | None = None) -> int:
    """How many of ``n_train`` training images (the last ones) are held out for validation:
    ``requested``, else :data:`VALIDATION_FULL` for a training set of 60,000 and a twelfth (at
    least 1) of a smaller one. At least one image must be left to train on."""
    n_val = requested if requested is not None else VALIDATION_FULL if n_train >= 60000 else max(1, n_train // 12)
    if n_val >= n_train:
        what = "--validation" if requested is not None else "the default validation split (a twelfth, at least 1)"
        raise InputError(f"validation = {n_val} ({what}): must be below the {n_train} training images (the last "
                         f"{n_val} are held out; at least one must be left to train on)")
    return n_val


#: fields that may differ between a checkpoint and a resumed run: the schedule's length, and the
#: learning-rate schedule as long as it gives the epochs already trained the same rates
_RESUMABLE_CHANGES = {"epochs", "lr", "lr_milestones", "lr_gamma", "mif_lr"}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return [perm[i: i + batch_size] for i in range(0, n - batch_size + 1, batch_size)] or [perm]


def certify(cfg: MemPropTrainConfig) -> dict[str, Any]:
    """Run/lookup the certificates of the twins the network uses; returns the records stored in
    the checkpoint.

    * MIF at (preset, dt, integrator): the neurons are integrated by the twin.
    * the synapse device at (synapse parameters, dt, :attr:`MemPropConfig.synapse_integrator`),
      recorded as ``<device>_synapse``: the synapses are read at their programmed conductance.
      For MSS the certifying case (``mss-synapse-read``) checks that at the read level of the
      exported network the device barely moves and conducts ohmically, in ngspice as in the
      twin; another device is certified on its own cases. Whether a trained network's voltages
      leave the devices where they were programmed is checked per run (``synapse_drift`` in
      metrics.json, :func:`spicegrad.memprop.drift.static_check`).
    """
    from ..validate import require_certified

    def summary(model, params, integrator, waveform):
        cert = require_certified(model, params, cfg.net.dt, integrator, allow_unvalidated=cfg.allow_unvalidated)
        out = {k: cert.get(k) for k in ("validated", "key", "dt", "integrator", "failures") if k in cert}
        out["cases"] = {name: rec.get("metrics", {}).get(waveform) for name, rec in cert.get("cases", {}).items()}
        return out

    kind = cfg.net.synapse_kind
    waveform = kind.states[0] if kind.states else "x"
    return {
        "mif": summary("mif", cfg.net.mif_params, cfg.net.integrator, "v"),
        f"{kind.name}_synapse": {**summary(kind.name, cfg.net.synapse_params, cfg.net.synapse_integrator, waveform),
                                 "static": True},
    }


def synapse_record(net_cfg: MemPropConfig) -> dict[str, Any]:
    """What a checkpoint records of its synapses: the device's name and its parameters."""
    return {"device": net_cfg.synapse, "params": dataclasses.asdict(net_cfg.synapse_params)}


@torch.no_grad()
def evaluate(net: MemPropNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
             progress: bool = False) -> dict[str, float]:
    """Accuracy and mean loss on a dataset (last batch padded to ``batch_size``)."""
    from .._progress import progress as progress_bar

    net.eval()
    correct, loss, v_peak = 0, 0.0, 0.0
    n = labels.shape[0]
    for i in progress_bar(range(0, n, batch_size), enabled=progress, desc="test", leave=False):
        x, y = images[i: i + batch_size], labels[i: i + batch_size]
        m = y.shape[0]
        if m < batch_size:  # pad: one shape for the compiled step
            x = torch.cat([x, x[:1].expand(batch_size - m, *x.shape[1:])])
        v_out = net(x)[:, :m]
        correct += int((predict(v_out) == y).sum())
        loss += float(memprop_loss(v_out, y, net.cfg.logit_volt)) * m
        v_peak = max(v_peak, float(v_out.abs().max()))
    net.train()
    return {"accuracy": correct / n, "loss": loss / n, "v_out_peak": v_peak}


def _diagnose(net: MemPropNet, x: torch.Tensor, y: torch.Tensor) -> str:
    """Where a non-finite loss came from: re-run the batch eagerly with per-step checks."""
    compiled, net._compiled_steps = net._compiled_steps, None
    try:
        with torch.no_grad():
            v_out = net(x, check_finite=True)
        return f"states stayed finite; the loss itself overflowed (max |V_out| = {float(v_out.abs().max()):.3g} V)"
    except NonFiniteError as exc:
        return str(exc)
    finally:
        net._compiled_steps = compiled


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A MEMprop checkpoint, checked for its format."""
    path = Path(path)
    try:
        state = load_tensors(path, map_location)
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {CHECKPOINT_FORMAT!r} (not a MEMprop checkpoint)")
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{path}: no recorded configuration (a table): not a complete MEMprop checkpoint")
    for key, kind in (("model", dict), ("compression", dict), ("epoch", int)):
        if key in state and state[key] is not None and not isinstance(state[key], kind):
            raise CheckpointError(f"{path}: {key} is a {type(state[key]).__name__}, expected a {kind.__name__}")
    _check_selection(state, path)
    try:
        require_finite_tensors(state.get("optimizer"), f"{path}: optimizer")
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    for where, model in (("model", state.get("model")), ("best.model", (state.get("best") or {}).get("model"))):
        _check_weights(model, f"{path}: {where}")
    return state


def _is_fraction(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= 1


def _check_selection(state: dict[str, Any], path: Path) -> None:
    """``best`` (the validation-selected network) and ``test`` (its one test score), if present:
    well-formed and consistent with each other and with the latest epoch's ``model``."""
    best, test, epoch = state.get("best"), state.get("test"), state.get("epoch")
    if best is not None:
        if not (isinstance(best, dict) and isinstance(best.get("model"), dict)):
            raise CheckpointError(f"{path}: best (the validation-selected network) is not a table with a model")
        b_epoch = best.get("epoch")
        if isinstance(b_epoch, bool) or not isinstance(b_epoch, int) or not (
                1 <= b_epoch <= (epoch if isinstance(epoch, int) else b_epoch)):
            raise CheckpointError(f"{path}: best.epoch = {b_epoch!r}: the selected epoch must be an integer in "
                                  f"1..{epoch!r} (the epochs trained)")
        if not _is_fraction(best.get("val_accuracy")):
            raise CheckpointError(f"{path}: best.val_accuracy = {best.get('val_accuracy')!r}: a fraction in [0, 1]")
        model = state.get("model")
        if isinstance(model, dict):
            shapes = {k: tuple(v.shape) for k, v in model.items() if isinstance(v, torch.Tensor)}
            best_shapes = {k: tuple(v.shape) for k, v in best["model"].items() if isinstance(v, torch.Tensor)}
            if shapes != best_shapes:
                raise CheckpointError(f"{path}: best.model does not hold the same tensors as model "
                                      f"(differing: {sorted(set(shapes.items()) ^ set(best_shapes.items()))[:4]})")
    if test is not None:
        if best is None:
            raise CheckpointError(f"{path}: a test score without the validation-selected network it belongs to (best)")
        if not (isinstance(test, dict) and test.get("epoch") == best.get("epoch") and _is_fraction(test.get("accuracy"))
                and isinstance(test.get("loss"), (int, float)) and math.isfinite(test["loss"])):
            raise CheckpointError(f"{path}: test = {str(test)[:120]}: expected the selected epoch ({best.get('epoch')}), "
                                  "an accuracy in [0, 1] and a finite loss")


def _check_weights(model: dict | None, where: str) -> None:
    """Tensors, finite, synapse states in [0, 1]: else a CheckpointError naming ``where``."""
    if model is None:
        return
    if not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise CheckpointError(f"{where} holds values that are not tensors")
    try:
        require_finite_tensors(model, where)
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    for name, value in model.items():
        if name.startswith("neurons.theta.") and not value.is_floating_point():
            raise CheckpointError(f"{where}: learned neuron parameter {name} is {value.dtype}, expected floating point")
        if name.startswith(("x_pos.", "x_neg.")) and value.numel() and (value.min() < 0 or value.max() > 1):
            raise CheckpointError(f"{where}: synapse state {name} spans [{float(value.min()):.4g}, "
                                  f"{float(value.max()):.4g}]; a synapse's normalised conductance (the MSS state x) "
                                  "lies in [0, 1] (a damaged file)")


def selected_weights(state: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The network a checkpoint stands for: the validation-selected one (``best``) once a run
    has finished all its epochs (its test accuracy is that network's), else the latest epoch's
    (``model``), which is also what a compressed checkpoint holds."""
    best = state.get("best")
    return best["model"] if best is not None and state.get("test") is not None else state.get("model")


def _check_synapse(state: dict[str, Any], cfg: MemPropTrainConfig, path: Path) -> None:
    """The checkpoint's synapse record against the device registered under its name now. A
    checkpoint from before the record (MSS only) has none and passes."""
    saved = state.get("synapse")
    if saved is None:
        return
    if not (isinstance(saved, dict) and isinstance(saved.get("device"), str) and isinstance(saved.get("params"), dict)):
        raise CheckpointError(f"{path}: synapse record {saved!r} is not a table of device (a name) and params")
    if saved["device"] != cfg.net.synapse:
        raise CheckpointError(f"{path}: its synapse record names device {saved['device']!r}, its configuration "
                              f"{cfg.net.synapse!r} (a damaged file)")
    now = synapse_record(cfg.net)["params"]
    if saved["params"] != now:
        diffs = [f"{k}: checkpoint {saved['params'].get(k)!r}, registered {now.get(k)!r}"
                 for k in sorted(set(saved["params"]) | set(now)) if saved["params"].get(k) != now.get(k)]
        raise CheckpointError(f"{path}: trained with {cfg.net.synapse!r} synapses of other parameters than the device "
                              f"registered as {cfg.net.synapse!r} now ({'; '.join(diffs)}): another device")


def _config_of(state: dict[str, Any], path: Path) -> MemPropTrainConfig:
    """The checkpoint's recorded configuration, its synapse device registered and unchanged."""
    try:
        cfg = MemPropTrainConfig.from_dict(state["config"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: its recorded configuration is not valid ({type(exc).__name__}: {exc})") from None
    _check_synapse(state, cfg, path)
    return cfg


def _check_compatible(saved: dict[str, Any], cfg: MemPropTrainConfig, path: Path, epochs_done: int) -> None:
    want = cfg.to_dict()
    diffs = []
    before = MemPropTrainConfig.from_dict(saved)
    saved = before.to_dict()  # fields added since (the synapse device) read at their defaults
    for e in range(epochs_done):
        if not math.isclose(before.lr_at(e), cfg.lr_at(e), rel_tol=1e-12):
            diffs.append(f"learning rate of epoch {e + 1}: checkpoint {before.lr_at(e):g}, requested {cfg.lr_at(e):g} "
                         "(a schedule may only change for epochs not yet trained)")
            break
    for key in sorted(set(saved) | set(want)):
        if key in _RESUMABLE_CHANGES:
            continue
        if key == "net":
            for k in sorted(set(saved["net"]) | set(want["net"])):
                if saved["net"].get(k) != want["net"].get(k):
                    diffs.append(f"net.{k}: checkpoint {saved['net'].get(k)!r}, requested {want['net'].get(k)!r}")
        elif saved.get(key) != want.get(key):
            diffs.append(f"{key}: checkpoint {saved.get(key)!r}, requested {want.get(key)!r}")
    if diffs:
        raise CheckpointError(f"{path} was trained with a different configuration; cannot resume: " + "; ".join(diffs))


def load_net(path: str | Path, compile: bool = False) -> tuple[MemPropNet, dict[str, Any]]:
    """The trained network of a checkpoint (:func:`selected_weights`) and the checkpoint dict."""
    state = load_checkpoint(path)
    cfg = _config_of(state, Path(path))
    net = MemPropNet(cfg.net, compile=compile)
    try:
        net.load_state_dict(selected_weights(state))
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the network {cfg.net.layers}: {exc}") from exc
    if net.neurons is not None and state.get("test") is not None:
        _check_certified_values(net, (state.get("best") or {}).get("neuron_certificates"), Path(path))
    return net, state


def _check_certified_values(net: MemPropNet, records: Any, path: Path) -> None:
    """The selected network's learned neuron values must be the ones its certificates prove
    (recorded beside them); a file whose θ or bounds were edited gives other values."""
    if not (isinstance(records, dict) and isinstance(records.get("layers"), list)):
        return  # not certified (certify_neurons=False): recorded as such in metrics.json
    try:
        checks = [(int(layer_rec["layer"]) - 1, int(j), str(name), float(value)) for layer_rec in records["layers"]
                  for rec in layer_rec["sets"] for j in rec["neurons"] for name, value in rec["learned"].items()]
        values = [(layer, j, name, value, getattr(net.neuron_params(layer)[j], name)) for layer, j, name, value in checks]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: best.neuron_certificates is malformed ({type(exc).__name__}: {exc})") from None
    for layer, j, name, value, have in values:
        if not math.isclose(have, value, rel_tol=1e-9, abs_tol=1e-15):
            raise CheckpointError(
                f"{path}: MIF layer {layer + 1}, neuron {j}: learned {name} = {have:g} differs from the "
                f"certified {value:g} (the learned parameters or their bounds were changed after "
                "certification: a damaged file)")


#: BPTT memory per neuron per time step per sample (bytes): 3.92 MB per sample measured for
#: 784-100-10 over 1000 steps (benchmarks/memprop_bench.py) is 36 B; rounded up
BPTT_BYTES_PER_NEURON_STEP = 40
#: per synapse pair: x+ and x- with their gradients and two Adam moments, float32
BYTES_PER_SYNAPSE_PAIR = 2 * 4 * 4


def memory_estimate(cfg: MemPropTrainConfig) -> int:
    """Bytes one training batch needs, from counts alone (nothing is allocated)."""
    layers = cfg.net.layers
    neurons = sum(layers[1:])
    pairs = sum(a * b for a, b in zip(layers[:-1], layers[1:], strict=False))
    return cfg.batch_size * cfg.net.steps * neurons * BPTT_BYTES_PER_NEURON_STEP + pairs * BYTES_PER_SYNAPSE_PAIR


def check_memory(cfg: MemPropTrainConfig, force: bool = False) -> int:
    """Refuse (unless ``force``) a configuration whose estimated memory exceeds 80 % of this
    machine's: a run that cannot fit should say so before it starts, not fail an hour in."""
    need = memory_estimate(cfg)
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > 0.8 * have and not force:
        raise InputError(
            f"this configuration needs about {need / 2**30:.3g} GiB per batch (batch {cfg.batch_size} x "
            f"{cfg.net.steps} steps x {sum(cfg.net.layers[1:])} neurons for BPTT, plus the synapses); this machine "
            f"has {have / 2**30:.3g} GiB. Reduce --batch-size, --steps or --hidden, or pass --force")
    return need


def train_memprop(
    cfg: MemPropTrainConfig,
    out_dir: str | Path,
    data: str | Path | None = None,
    resume: bool = False,
    compile: bool = True,
    progress: bool = True,
    plots: bool = True,
    certificates: dict[str, Any] | None = None,
    log=print,
    device: str | torch.device = "cpu",
    certify_neurons: bool = True,
) -> dict[str, Any]:
    """Train (or resume) and return the metrics dict written to ``out_dir/metrics.json``.

    ``certificates``: pre-computed :func:`certify` records (tests); default: certify now.
    ``certify_neurons``: certify learned MIF parameter sets after every epoch
    (:mod:`.neuron_certs`); False (tests of other things) records that they were not.
    """
    from .._progress import progress as progress_bar

    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    if ckpt_path.exists() and not resume:
        raise CheckpointError(f"{ckpt_path} holds a trained network: pass --resume to continue it, or choose a "
                              "fresh --out (nothing was overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    size = cfg.image_size if cfg.image_size != 28 else None
    train = load_dataset(cfg.dataset, "train", data, cfg.train_subset, size)
    test = load_dataset(cfg.dataset, "test", data, cfg.test_subset, size)
    n_classes = len(train.classes)
    if cfg.net.layers[-1] != n_classes:
        raise ValueError(f"network output {cfg.net.layers[-1]} != {n_classes} classes of {cfg.dataset}")
    if train.n_features != cfg.net.layers[0]:
        raise ValueError(f"{cfg.dataset} images have {train.n_features} pixels, the network expects {cfg.net.layers[0]}")

    state = None
    if resume and ckpt_path.exists():  # check the file before the slower certification
        state = load_checkpoint(ckpt_path, map_location=device)
        if state.get("compression"):
            raise CheckpointError(f"{ckpt_path} is a compressed network (pruned/quantised by spicegrad compress); "
                                  "plain training would ignore its masks and levels: fine-tune it with "
                                  "`spicegrad compress prune|quantize --finetune-epochs N` instead")
        _config_of(state, ckpt_path)
        _check_compatible(state["config"], cfg, ckpt_path, state["epoch"])
    certs = certificates if certificates is not None else certify(cfg)
    if cfg.net.learn_mif and certify_neurons and cfg.net.mif_sharing == "neuron":
        n_sets = sum(cfg.net.layers[1:])
        log(f"per-neuron MIF parameters: up to {n_sets} distinct sets are certified against ngspice after every epoch, "
            f"about 20 s each (up to ~{n_sets * 20 / 60:.0f} min per epoch); --mif-sharing layer certifies "
            f"{len(cfg.net.layers) - 1}")
    net = MemPropNet(cfg.net, torch.Generator().manual_seed(cfg.seed), compile=compile).to(device)
    groups = [{"params": net.synapse_parameters(), "scale": 1.0}]
    if net.neurons is not None:
        groups.append({"params": net.neuron_parameters(), "scale": cfg.mif_lr / cfg.lr})
    opt = torch.optim.Adam(groups, lr=cfg.lr)
    history: dict[str, list] = {"val_accuracy": [], "train_loss": [], "val_loss": [], "samples_per_s": [],
                                "epoch_wall_s": [], "batch_loss": []}
    start_epoch, best, tested = 0, None, None
    if state is not None:
        if state.get("best") is None or not isinstance(state.get("history"), dict) or "val_accuracy" not in state["history"]:
            raise CheckpointError(f"{ckpt_path} was trained before the validation protocol (no held-out validation split "
                                  "and no validation-selected network): it cannot be resumed under it. Retrain it, or "
                                  "export or compress it as it is")
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{ckpt_path}: its model or optimizer state does not fit the network "
                                  f"{cfg.net.layers} ({type(exc).__name__}: {str(exc)[:300]})") from None
        for group, want in zip(opt.param_groups, groups, strict=True):  # the rates are the configuration's, not the file's
            group["scale"] = want["scale"]
        history = state["history"]
        start_epoch = state["epoch"]
        best, tested = state.get("best"), state.get("test")
        log(f"resuming from {ckpt_path} after epoch {start_epoch}")
    elif resume:
        log(f"no checkpoint at {ckpt_path}: starting from scratch")

    n_val = validation_size(len(train), cfg.validation)
    x_all, y_all = train.flat().to(device), train.labels.to(device)
    x_train, y_train = x_all[:-n_val], y_all[:-n_val]
    x_val, y_val = x_all[-n_val:], y_all[-n_val:]
    x_test, y_test = test.flat().to(device), test.labels.to(device)
    split = {"train": len(y_train), "validation": n_val, "validation_images": f"the last {n_val} of the training set",
             "test": len(y_test)}
    metrics: dict[str, Any] = {}
    if compile and start_epoch < cfg.epochs:  # the first batch below waits for the compiler, silently
        log("compiling the network step with torch.compile: the first batch waits for it "
            "(--no-compile runs eagerly)")
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(epoch) * group["scale"]
        losses, seen = [], 0
        bar = progress_bar(epoch_batches(len(y_train), cfg.batch_size, cfg.seed, epoch), enabled=progress,
                           desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for step, idx in enumerate(bar):
            x, y = x_train[idx], y_train[idx]
            loss = memprop_loss(net(x), y, cfg.net.logit_volt)
            if not torch.isfinite(loss):
                where = _diagnose(net, x, y)
                raise TrainingDiverged(f"non-finite loss at epoch {epoch + 1}, batch {step}: {where}. "
                                       f"Last good checkpoint: {ckpt_path if ckpt_path.exists() else 'none'}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for name, p in net.named_parameters():
                if p.grad is not None and not torch.isfinite(p.grad).all():
                    what = (f"synapse layer {int(name.split('.')[-1]) + 1}" if name.startswith(("x_pos.", "x_neg."))
                            else f"learned MIF parameter {name.split('.')[-1]}")
                    raise TrainingDiverged(
                        f"non-finite gradient of {what} ({name}) at epoch {epoch + 1}, batch {step}. "
                        f"Last good checkpoint: {ckpt_path if ckpt_path.exists() else 'none'}")
            opt.step()
            net.project_()
            losses.append(loss.item())
            if step == 0:  # throughput excludes the first batch (torch.compile warm-up)
                t_first = time.perf_counter()
                if compile and epoch == start_epoch:
                    log(f"first batch, compilation included: {t_first - t0:.0f} s")
            else:
                seen += y.shape[0]
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
        train_s = time.perf_counter() - t_first
        ev = evaluate(net, x_val, y_val, cfg.batch_size, progress)
        history["val_accuracy"].append(ev["accuracy"])
        history["val_loss"].append(ev["loss"])
        neurons = None
        if net.neurons is not None:  # every learned set certified, or training stops here (this epoch unsaved)
            neurons = (neuron_certs.certify_neurons(net, cfg, out, log) if certify_neurons
                       else {"skipped": "certify_neurons=False"})
        if best is None or ev["accuracy"] > best["val_accuracy"]:
            best = {"epoch": epoch + 1, "val_accuracy": ev["accuracy"], "neuron_certificates": neurons,
                    "model": {k: v.detach().clone() for k, v in net.state_dict().items()}}
            if neurons is not None and "layers" in neurons:
                neuron_certs.write_neuron_certificates(out, neurons)
        history["train_loss"].append(sum(losses) / len(losses))
        history["samples_per_s"].append(seen / train_s if seen else float("nan"))
        history["epoch_wall_s"].append(time.perf_counter() - t0)
        history["batch_loss"].append(losses)
        state = {
            "format": CHECKPOINT_FORMAT, "spicegrad_version": __version__, "config": cfg.to_dict(),
            "epoch": epoch + 1, "model": net.state_dict(), "optimizer": opt.state_dict(), "history": history,
            "certificates": certs, "allow_unvalidated": cfg.allow_unvalidated, "synapse": synapse_record(cfg.net),
            "best": best, "test": None,
        }
        if epoch + 1 == cfg.epochs:  # the test set, once: the validation-selected network
            tested = _test_once(net, best, x_test, y_test, cfg.batch_size, progress)
            state["test"] = tested
            if plots and net.neurons is not None:  # the selected network's neurons, twin and ngspice
                _neuron_plots(net, best, out, spice=certify_neurons)
        save_tensors(ckpt_path, state)
        metrics = _write_outputs(net, cfg, history, certs, split, best, tested, x_test, y_test, test.classes, out, plots)
        log(f"epoch {epoch + 1}/{cfg.epochs}: train loss {history['train_loss'][-1]:.4g}, "
            f"validation accuracy {ev['accuracy'] * 100:.2f} %, {history['samples_per_s'][-1]:.1f} samples/s"
            + (f"; test accuracy of the selected epoch {tested['epoch']}: {tested['accuracy'] * 100:.2f} %"
               if tested else ""))
    if not metrics and start_epoch > 0:  # resumed a finished run: redraw what an interruption may have left stale
        if tested is None and start_epoch >= cfg.epochs:  # stopped between its last epoch and the test
            tested = _test_once(net, best, x_test, y_test, cfg.batch_size, progress)
        metrics = _write_outputs(net, cfg, history, certs, split, best, tested, x_test, y_test, test.classes, out, plots)
    return metrics


@contextlib.contextmanager
def _weights(net: MemPropNet, model: dict[str, torch.Tensor]):
    """``net`` with ``model``'s weights for the duration of the block, its own restored after."""
    current = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(model)
    try:
        yield net
    finally:
        net.load_state_dict(current)


def _neuron_plots(net: MemPropNet, best: dict[str, Any], out: Path, spice: bool) -> None:
    """``neurons.png``/``neurons.json`` (:func:`.response.neuron_report`) of the selected network."""
    from .response import neuron_report

    with _weights(net, best["model"]):
        neuron_report(net, out, spice=spice)


def _test_once(net: MemPropNet, best: dict[str, Any], x_test: torch.Tensor, y_test: torch.Tensor, batch_size: int,
               progress: bool) -> dict[str, Any]:
    """Test accuracy and loss of the validation-selected network (``best``); ``net`` is left as it was."""
    with _weights(net, best["model"]):
        ev = evaluate(net, x_test, y_test, batch_size, progress)
    return {"epoch": best["epoch"], "accuracy": ev["accuracy"], "loss": ev["loss"]}


def _write_outputs(net: MemPropNet, cfg: MemPropTrainConfig, history: dict, certs: dict, split: dict,
                   best: dict | None, tested: dict | None, x_test: torch.Tensor, y_test: torch.Tensor, classes, out: Path,
                   plots: bool) -> dict[str, Any]:
    """metrics.json and the plots of the network as it is now (after an epoch, or on resume)."""
    with torch.no_grad():  # a few test samples, recorded eagerly, for plots and voltage peaks
        rec = net(x_test[:4], record=True, eager=True)
    metrics = _metrics(cfg, history, certs, split, best, tested)
    metrics["synapse_drift"] = _synapse_drift(net, x_test[:4])
    # The operating envelope the twin is trusted over: compare with the validated cases'.
    metrics["operating_range"] = {
        "membrane_V_per_layer": [[float(layer.min()), float(layer.max())] for layer in rec["layers"]],
        "hidden_input_current_A": [float(rec["input_current"].min()), float(rec["input_current"].max())],
        "from": "first 4 test samples",
    }
    atomic_write_json(out / "metrics.json", metrics)
    if plots:
        from .plots import plot_all

        plot_all(history, rec, y_test[:4], classes, cfg.net.dt, out)
    return metrics


def _metrics(cfg: MemPropTrainConfig, history: dict, certs: dict, split: dict, best: dict | None,
             tested: dict | None) -> dict[str, Any]:
    sps = [s for s in history["samples_per_s"] if math.isfinite(s)]
    return {
        "protocol": "epoch selected by validation accuracy (earliest of ties); test set scored once, after the "
                    "last epoch, with the selected network",
        "split": split,
        "val_accuracy": history["val_accuracy"],
        "train_loss": history["train_loss"],
        "val_loss": history["val_loss"],
        "selected_epoch": best["epoch"] if best else None,
        "selected_val_accuracy": best["val_accuracy"] if best else None,
        "test_accuracy": tested["accuracy"] if tested else None,
        "test_loss": tested["loss"] if tested else None,
        "neurons": _neuron_record(cfg, best),
        "samples_per_s": sum(sps) / len(sps) if sps else None,
        "samples_per_s_per_epoch": history["samples_per_s"],
        "epoch_wall_s": history["epoch_wall_s"],
        "train_wall_s": sum(history["epoch_wall_s"]),
        "epochs_done": len(history["val_accuracy"]),
        "config": cfg.to_dict(),
        "certificates": certs,
        "allow_unvalidated": cfg.allow_unvalidated,
        "spicegrad_version": __version__,
    }


def _neuron_record(cfg: MemPropTrainConfig, best: dict | None) -> dict[str, Any]:
    """The MIF neurons of the selected network: the seed preset, or the learned fields with
    their bounds and the certificates of every learned set (``certificates/`` in the run)."""
    if not cfg.net.learn_mif:
        return {"learned": [], "preset": cfg.net.mif_preset}
    return {"learned": list(cfg.net.learn_mif), "preset": cfg.net.mif_preset, "sharing": cfg.net.mif_sharing,
            "mif_lr": cfg.mif_lr, "certification": neuron_certs.summary((best or {}).get("neuron_certificates"))}


def _synapse_drift(net: MemPropNet, images: torch.Tensor) -> dict[str, Any]:
    """Is the static-synapse reading fair? The synapses' drift (MSS: its bound) along the
    actual word-line voltages of a few test samples, at full read voltage and at the read scale
    the export picks (:func:`spicegrad.memprop.drift.static_check`). ``threshold_V``: MSS's
    v_on, else the device's read limit (None without switching thresholds)."""
    auto = static_check(net, images, read_scale="auto")
    return {
        "device": auto["device"],
        "threshold_V": auto.get("v_on_V", auto["read_limit_V"]),
        "read_limit_V": auto["read_limit_V"],
        "inside_read_limit_at_export_scale": auto["inside_read_limit"],
        "inside_thresholds_at_export_scale": auto["inside_thresholds"],
        "v_max_seen_V": auto["full_voltage"]["v_max_V"],
        "max_state_change_per_sample": auto["full_voltage"]["drift_bound"],
        "export_read_scale": auto["read_scale"],
        "export_v_max_V": auto["v_max_V"],
        "export_max_state_change_per_sample": auto["drift_bound"],
        "static_fair_at_export_scale": auto["static_fair"],
        "from": "first 4 test samples",
    }
