"""Train the SRNN-PCM network with e-prop, on fp32 weights or on PCM crossbars.

One epoch presents the task's training sequences (seed: 3 sequences, batch 1) and updates the
weights after each batch, online. Device time (PCM): batch s is read at t_s + k·dt and its
update is written at t_{s+1} = t_s + write_period (38.6 s, the seed's T0), so every read of the
next batch happens after that write. Checkpoints (atomic) hold the whole state — weights or
device states, accumulators, RNG states, device time and history — so ``resume`` continues
the same run bit for bit.

(choice) ``vanilla`` is the fp32 baseline (weights clipped to [−1, 1] as the seed) and is
refused with ``xbar``; the PCM methods always run on crossbars (the seed silently did nothing
for ``vanilla --xbar True`` and had no fp32 path for the PCM methods).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch

from .._io import atomic_write_json, load_tensors, require_finite_tensors, save_tensors
from ..crossbar.pcm_synapse import METHODS, PCM_METHODS, PCMCrossbar, make_rule
from ..devices.pcm import PCMParams
from ..errors import InputError, TrainingDiverged
from ..stimuli import grid_steps
from .model import EpropConfig, Synapses, Weights, eprop_gradients, kaiming_weights, lif_forward
from .task import make_task

PCM_CERT_DT = 1e-5  # s: the pulse slot of the validated PCM cases (an event model: dt-free)
LAYERS = ("w_in", "w_rec", "w_out")


@dataclasses.dataclass(frozen=True)
class EpropTrainConfig:
    """Run options (defaults: SRNN-PCM ``train.py``; ``spicegrad train eprop`` and the benchmark
    start from the per-method presets of :mod:`.eprop_presets` instead)."""

    method: str = "vanilla"
    xbar: bool = False
    perf: bool = False
    xbar_res: int = 3
    xbar_n: int = 1
    xbar_scale: float = 1.0
    grad_thr: float = 0.0
    prob_scale: float = 1.0
    refresh: bool = True
    preset: str = "nandakumar2018"
    epochs: int = 250
    seed: int = 42
    batch_size: int = 1
    write_period: float = PCMParams().t0  # s of device time between updates (the seed's T0)
    checkpoint_every: int = 10
    allow_unvalidated: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.method == "vanilla" and self.xbar:
            raise ValueError("method 'vanilla' is the fp32 baseline; with --xbar choose one of "
                             + ", ".join(PCM_METHODS))
        if self.method in PCM_METHODS and not self.xbar:
            object.__setattr__(self, "xbar", True)
        for name, lo in (("xbar_n", 1), ("xbar_res", 1), ("epochs", 0), ("batch_size", 1),
                         ("checkpoint_every", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise ValueError(f"{name} = {value!r}: must be an integer >= {lo}")
        for name in ("prob_scale", "xbar_scale", "write_period"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be a finite number > 0")
        if not math.isfinite(self.grad_thr) or self.grad_thr < 0:
            raise ValueError(f"grad_thr = {self.grad_thr!r}: must be a finite number >= 0")


class CrossbarSynapses:
    """:class:`~.eprop.Synapses` on PCM crossbars for one forward pass at ``times`` (s, [T]).

    Input and readout currents read, in one vectorised call, each device of a column at every
    step that column is driven (inputs and spikes are sparse); the recurrent current reads the
    columns of this step's spikes at times[t]. Every read drifts from the device's own t_p
    and has fresh read noise (``PCMCrossbar.read_currents``)."""

    def __init__(self, xbars: dict[str, PCMCrossbar], times: torch.Tensor) -> None:
        self.xbars, self.times = xbars, times
        self.rec = xbars["w_rec"].sequence_reader(times)

    def input_currents(self, x: torch.Tensor) -> torch.Tensor:
        return self.xbars["w_in"].read_currents(x, self.times)

    def recurrent_current(self, t: int, z_t: torch.Tensor) -> torch.Tensor:
        return self.rec.currents(t, z_t)

    def readout_currents(self, z: torch.Tensor) -> torch.Tensor:
        return self.xbars["w_out"].read_currents(z, self.times)


class EpropNetwork:
    """Weights of the SRNN: fp32 tensors (vanilla) or three PCM crossbars plus update rules."""

    def __init__(self, cfg: EpropConfig, tcfg: EpropTrainConfig) -> None:
        self.cfg, self.tcfg = cfg, tcfg
        self.device = torch.device(tcfg.device)
        self.gen = torch.Generator().manual_seed(tcfg.seed)
        init = kaiming_weights(cfg, self.gen, self.device)
        self.w_fb = init["w_fb"]
        self.lr = {"w_in": cfg.lr_inp, "w_rec": cfg.lr_rec, "w_out": cfg.lr_out}
        if not tcfg.xbar:
            self.weights = {k: init[k] for k in LAYERS}
            return
        self.device_gen = torch.Generator(device=self.device).manual_seed(tcfg.seed + 1)
        params = PCMParams.preset(tcfg.preset)
        shapes = {"w_in": (cfg.n_rec, cfg.n_in), "w_rec": (cfg.n_rec, cfg.n_rec), "w_out": (cfg.n_out, cfg.n_rec)}
        self.xbars = {
            name: PCMCrossbar(rows, cols, params, tcfg.xbar_n, tcfg.xbar_scale, tcfg.perf, tcfg.xbar_res,
                              0.75 if tcfg.refresh else None,
                              torch.eye(rows, dtype=torch.bool) if name == "w_rec" else None,
                              self.device_gen, self.device)
            for name, (rows, cols) in shapes.items()
        }
        self.rules = {name: make_rule(tcfg.method, grad_thr=tcfg.grad_thr, prob_scale=tcfg.prob_scale,
                                      generator=self.device_gen) for name in LAYERS}

    def feedback(self) -> torch.Tensor:
        if self.cfg.feedback == "random":
            return self.w_fb
        return self.xbars["w_out"].ideal_weight() if self.tcfg.xbar else self.weights["w_out"]

    def synapses(self, times: torch.Tensor) -> Synapses:
        """What a forward pass at device ``times`` (s, [T]) reads: the fp32 weights, or the
        crossbars read at times[t] for step t (only the columns each step drives)."""
        if not self.tcfg.xbar:
            return Weights(**self.weights)
        return CrossbarSynapses(self.xbars, times)

    def update(self, grads: dict[str, torch.Tensor], t: float) -> None:
        """Apply one batch's gradients; PCM programming happens at device time ``t``."""
        for name in LAYERS:
            grad, lr = grads["grad_" + name[2:]], self.lr[name]
            if not self.tcfg.xbar:
                self.weights[name] = (self.weights[name] - lr * grad).clamp(-1.0, 1.0)
                continue
            xb = self.xbars[name]
            xb.apply_pulses(self.rules[name].pulses(xb, grad, lr), t)
            xb.refresh(t)

    def pulse_counts(self) -> dict[str, int]:
        if not self.tcfg.xbar:
            return {"set": 0, "reset": 0}
        return {"set": sum(x.set_pulses for x in self.xbars.values()),
                "reset": sum(x.reset_pulses for x in self.xbars.values())}

    def conductances_us(self) -> dict[str, torch.Tensor]:
        """Programmed G (µS) of every device per layer (fp32: the weights)."""
        if not self.tcfg.xbar:
            return {k: w.detach().cpu().clone() for k, w in self.weights.items()}
        return {k: xb.devices.g_us.detach().cpu().clone() for k, xb in self.xbars.items()}

    def state_dict(self) -> dict:
        state = {"w_fb": self.w_fb, "gen": self.gen.get_state()}
        if not self.tcfg.xbar:
            return {**state, "weights": self.weights}
        return {**state, "device_gen": self.device_gen.get_state(),
                "xbars": {k: xb.state_dict() for k, xb in self.xbars.items()},
                "accumulators": {k: getattr(r, "accumulator", None) for k, r in self.rules.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.w_fb = state["w_fb"].to(self.device)
        self.gen.set_state(state["gen"])
        if not self.tcfg.xbar:
            self.weights = {k: w.to(self.device) for k, w in state["weights"].items()}
            return
        self.device_gen.set_state(state["device_gen"])
        for k, xb in self.xbars.items():
            xb.load_state_dict(state["xbars"][k])
            if state["accumulators"][k] is not None:
                self.rules[k].accumulator = state["accumulators"][k].to(self.device)


@dataclasses.dataclass
class RunState:
    epoch: int = 0
    device_time: float = 0.0
    history: list = dataclasses.field(default_factory=list)
    validation: dict | None = None
    initial: dict | None = None  # evaluate() of the untrained network


def mse(y: torch.Tensor, target: torch.Tensor) -> float:
    return float(((y - target) ** 2).mean())


class Trainer:
    """Owns the task, the network and the run state; :meth:`run` trains to ``tcfg.epochs``."""

    def __init__(self, cfg: EpropConfig, tcfg: EpropTrainConfig, out_dir: str | Path | None = None) -> None:
        self.cfg, self.tcfg = cfg, tcfg
        self.out = None if out_dir is None else Path(out_dir)
        self.task = make_task(tcfg.seed, steps=1000, n_in=cfg.n_in, dt=cfg.dt)
        self.net = EpropNetwork(cfg, tcfg)
        self.state = RunState()
        self.initial_g = self.net.conductances_us()

    # -- one sequence batch ---------------------------------------------------------------

    def read_times(self) -> torch.Tensor:
        steps = self.task.x.shape[1]
        return self.state.device_time + torch.from_numpy(grid_steps(self.cfg.dt, steps)[:-1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x.to(self.net.device)
        times = self.read_times()
        return lif_forward(x, self.net.synapses(times), self.cfg)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        x, y = x.to(self.net.device), y.to(self.net.device)
        out = self.forward(x)
        loss = mse(out["y"], y)
        grads = eprop_gradients(x, out, y, self.net.feedback(), self.cfg)
        if not math.isfinite(loss) or not all(torch.isfinite(g).all() for g in grads.values()):
            raise TrainingDiverged(f"non-finite loss or gradient at epoch {self.state.epoch} "
                                   f"(loss {loss!r}): lower the learning rates or xbar_scale")
        self.state.device_time += self.tcfg.write_period
        self.net.update(grads, self.state.device_time)
        return loss

    def epoch(self) -> dict:
        x, y = self.task.train
        t0 = time.perf_counter()
        losses = []
        for start in range(0, x.shape[0], self.tcfg.batch_size):
            losses.append(self.step(x[start:start + self.tcfg.batch_size], y[start:start + self.tcfg.batch_size]))
        self.state.epoch += 1
        pulses = self.net.pulse_counts()
        record = {"epoch": self.state.epoch, "train_mse": sum(losses) / len(losses),
                  "last_mse": losses[-1], "set_pulses": pulses["set"], "reset_pulses": pulses["reset"],
                  "seconds": time.perf_counter() - t0}
        self.state.history.append(record)
        return record

    def evaluate(self) -> dict:
        """MSE and mean firing rate on the training and held-out sequences (reads now)."""
        result = {}
        with torch.no_grad():
            for split in ("train", "test"):
                x, y = getattr(self.task, split)
                if x.shape[0] == 0:
                    continue
                out = self.forward(x)
                result[f"{split}_mse"] = mse(out["y"], y.to(self.net.device))
                result[f"{split}_rate_hz"] = float(out["z"].mean() / self.cfg.dt)
        return result

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoint(self) -> Path | None:
        if self.out is None:
            return None
        blob = {"eprop_config": dataclasses.asdict(self.cfg), "train_config": dataclasses.asdict(self.tcfg),
                "run": dataclasses.asdict(self.state), "net": self.net.state_dict(),
                "initial_g": self.initial_g}
        return save_tensors(self.out / "checkpoint.pt", blob)

    def restore(self, path: Path) -> None:
        """Continue from ``path``; refuses a checkpoint of a different configuration."""
        blob = load_tensors(path, self.net.device)
        if not isinstance(blob, dict) or not {"eprop_config", "train_config", "run", "net"} <= set(blob):
            raise InputError(f"{path}: not an e-prop checkpoint (needs eprop_config, train_config, run, net)")
        require_finite_tensors(blob["net"], f"{path}: net")
        mine = {k: v for k, v in dataclasses.asdict(self.tcfg).items() if k != "epochs"}
        theirs = {k: v for k, v in blob["train_config"].items() if k != "epochs"}
        if mine != theirs or blob["eprop_config"] != dataclasses.asdict(self.cfg):
            diff = sorted(k for k in mine if mine[k] != theirs.get(k))
            raise ValueError(f"{path}: checkpoint of a different configuration (differs in "
                             f"{', '.join(diff) or 'network hyper-parameters'}); use another --out")
        try:
            self.net.load_state_dict(blob["net"])
            self.state = RunState(**blob["run"])
        except (RuntimeError, TypeError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: the checkpoint does not fit this network ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
        self.initial_g = blob["initial_g"]

    # -- the run --------------------------------------------------------------------------

    def validate_devices(self) -> None:
        """Certify the PCM configuration against ngspice (perf mode is ideal: nothing to certify)."""
        if not self.tcfg.xbar or self.tcfg.perf or self.state.validation is not None:
            return
        from ..validate.certificates import require_certified

        cert = require_certified("pcm", PCMParams.preset(self.tcfg.preset), PCM_CERT_DT, "event",
                                 allow_unvalidated=self.tcfg.allow_unvalidated)
        self.state.validation = {"validated": bool(cert.get("validated")), "key": cert.get("key"),
                                 "cases": sorted(cert.get("cases", {})), "failures": cert.get("failures")}

    def run(self, progress: bool = True, on_epoch=None) -> dict:
        self.validate_devices()
        if self.state.epoch == 0 and self.state.initial is None:
            self.state.initial = self.evaluate()
        bar = None
        if progress:
            from .._progress import progress as progress_bar

            bar = progress_bar(total=self.tcfg.epochs, initial=self.state.epoch, desc=f"eprop {self.tcfg.method}",
                               unit="epoch")
        try:
            while self.state.epoch < self.tcfg.epochs:
                record = self.epoch()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(mse=f"{record['train_mse']:.4f}", writes=record["set_pulses"])
                if on_epoch is not None:
                    on_epoch(record)
                if self.state.epoch % self.tcfg.checkpoint_every == 0:
                    self.checkpoint()
        finally:
            if bar is not None:
                bar.close()
        self.checkpoint()
        return self.summary()

    def summary(self) -> dict:
        hist = self.state.history
        seconds = [h["seconds"] for h in hist[1:]] or [h["seconds"] for h in hist]
        return {"method": self.tcfg.method, "train_config": dataclasses.asdict(self.tcfg),
                "eprop_config": dataclasses.asdict(self.cfg), "epochs": self.state.epoch,
                "final_train_mse": hist[-1]["train_mse"] if hist else None,
                "initial_train_mse": (self.state.initial or {}).get("train_mse"),
                **self.evaluate(), **{f"{k}_pulses": v for k, v in self.net.pulse_counts().items()},
                "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
                "device_time_s": self.state.device_time, "validation": self.state.validation,
                "history": hist}

    def write_outputs(self, summary: dict) -> None:
        if self.out is None:
            return
        from .plots import plot_all

        atomic_write_json(self.out / "metrics.json", summary)
        plot_all(self, summary, self.out)
