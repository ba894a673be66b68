"""MEMprop training throughput vs a plain PyTorch LIF network of the same size and T.

    .venv/bin/python benchmarks/memprop_bench.py [--steps 1000] [--batch 128] [--layers 784,100,10]
                                                 [--runs 5] [--threads 1] [--eager] [--json out.json]

Measures one training iteration (forward over T steps, BPTT backward, Adam step, projection)
at batch B, for:

* ``memprop-compiled``: :class:`spicegrad.memprop.model.MemPropNet` with the network step
  compiled by torch.compile (what ``spicegrad train memprop`` runs);
* ``memprop-eager`` (``--eager``): the same network, eager;
* ``lif-eager``: an snnTorch-style Leaky (LIF) network written here: mem <- β·mem + I - S·θ
  (reset by subtraction, reset term detached as in snnTorch), spikes by a Heaviside with the
  arctan surrogate gradient (snnTorch's default), same layer sizes, same T, same loss (NLL of
  the output membrane summed over steps), the first layer's matrix product likewise computed
  once per sample.

Protocol: every network first runs one untimed iteration (torch.compile happens there; its
time is reported as ``warmup_s``), then ``--runs`` timed rounds, each one iteration of every
network in turn (lif, memprop-compiled[, memprop-eager], lif, memprop-compiled, ...), so that
load from other processes on a shared machine falls on all of them alike. Reported per
network: the median seconds per iteration (``s_per_iter``; every round in ``s_per_iter_all``)
and samples/s at that median; for MEMprop ``ratio_to_lif_step`` = median(memprop) /
median(lif) and ``ratio_per_round`` (memprop / lif of the same round). The same medians of
process CPU time (``cpu_s_per_iter``, ``cpu_ratio_to_lif_step``) are recorded too: with one
thread they count the work done, not the time spent waiting for a core that other processes
hold. The 1-, 5- and 15-minute load averages are recorded before and after.

BPTT memory per sample: the bytes of tensors saved for the backward pass (autograd
saved-tensor hooks, storages counted once) divided by B, from a separate untimed forward.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import torch

from spicegrad.memprop.model import MemPropConfig, MemPropNet, memprop_loss


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, arctan surrogate backward (snnTorch ``surrogate.atan``, alpha = 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha = 2.0
        return grad * (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


class LIFNet(torch.nn.Module):
    """snnTorch-style Leaky network (tutorial 5 shape), membrane-potential readout."""

    def __init__(self, layers, steps, beta=0.95, threshold=1.0):
        super().__init__()
        self.fcs = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(layers[:-1], layers[1:], strict=True))
        self.steps, self.beta, self.threshold = steps, beta, threshold

    def forward(self, x):
        cur0 = self.fcs[0](x)  # static input: the first product once per sample
        mems = [torch.zeros(x.shape[0], fc.out_features) for fc in self.fcs]
        outs = []
        for _ in range(self.steps):
            inp = cur0
            for li, fc in enumerate(self.fcs):
                cur = inp if li == 0 else fc(inp)
                reset = (mems[li] > self.threshold).to(x.dtype).detach()
                mems[li] = self.beta * mems[li] + cur - reset * self.threshold
                inp = ATanSpike.apply(mems[li] - self.threshold)
            outs.append(mems[-1])
        return torch.stack(outs)


def saved_bytes(fn) -> int:
    """Bytes of distinct storages autograd saves while ``fn()`` builds the graph."""
    seen: dict[int, int] = {}

    def pack(t):
        if isinstance(t, torch.Tensor):
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def one_iteration(model, opt, x, y, loss_fn, project=None) -> tuple[float, float]:
    """(wall, CPU) seconds of one training iteration: forward, loss, backward, Adam step, projection."""
    t0, c0 = time.perf_counter(), time.process_time()
    loss = loss_fn(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if project:
        project()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--layers", default="784,100,10")
    ap.add_argument("--runs", type=int, default=5, help="timed interleaved rounds (the median is reported)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eager", action="store_true", help="also time the eager MEMprop network")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error(f"--runs = {args.runs}: need at least 1 round")
    torch.set_num_threads(args.threads)
    layers = tuple(int(n) for n in args.layers.split(","))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, layers[0], generator=g)
    y = torch.randint(0, layers[-1], (args.batch,), generator=g)
    cfg = MemPropConfig(layers=layers, steps=args.steps)
    results = {"steps": args.steps, "batch": args.batch, "layers": list(layers), "threads": args.threads,
               "runs": args.runs, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
               "loadavg_before": list(os.getloadavg())}

    def memprop(compile_):
        net = MemPropNet(cfg, torch.Generator().manual_seed(0), compile=compile_)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        return net, opt, lambda o, t: memprop_loss(o, t, cfg.logit_volt), net.project_

    def lif_loss(o, t):
        return torch.nn.functional.cross_entropy(o.reshape(-1, o.shape[-1]), t.repeat(o.shape[0]), reduction="sum") / t.shape[0]

    lif = LIFNet(layers, args.steps)
    nets = {"lif-eager": (lif, torch.optim.Adam(lif.parameters(), lr=1e-4), lif_loss, None),
            "memprop-compiled": memprop(True)}
    if args.eager:
        nets["memprop-eager"] = memprop(False)
    for name, (model, opt, loss_fn, project) in nets.items():
        warm, _ = one_iteration(model, opt, x, y, loss_fn, project)  # torch.compile happens here
        _, mem = saved_bytes(lambda model=model: model(x))
        results[name] = {"warmup_s": warm, "saved_bytes_per_sample": mem / x.shape[0], "s_per_iter_all": [],
                         "cpu_s_per_iter_all": []}
        print(f"  {name}: warm-up {warm:.3f} s, BPTT {mem / x.shape[0] / 1e6:.3f} MB/sample", flush=True)
    for r in range(args.runs):
        for name, (model, opt, loss_fn, project) in nets.items():
            dt, cpu = one_iteration(model, opt, x, y, loss_fn, project)
            results[name]["s_per_iter_all"].append(dt)
            results[name]["cpu_s_per_iter_all"].append(cpu)
            print(f"  round {r + 1}: {name} {dt:.3f} s ({cpu:.3f} s CPU)", flush=True)
    results["loadavg_after"] = list(os.getloadavg())
    for name in nets:
        res = results[name]
        res["s_per_iter"] = statistics.median(res["s_per_iter_all"])
        res["cpu_s_per_iter"] = statistics.median(res["cpu_s_per_iter_all"])
        res["samples_per_s"] = x.shape[0] / res["s_per_iter"]
    lif_times = results["lif-eager"]["s_per_iter_all"]
    for name in ("memprop-compiled", "memprop-eager"):
        if name in results:
            res = results[name]
            res["ratio_to_lif_step"] = res["s_per_iter"] / results["lif-eager"]["s_per_iter"]
            res["ratio_per_round"] = [m / li for m, li in zip(res["s_per_iter_all"], lif_times, strict=True)]
            res["cpu_ratio_to_lif_step"] = res["cpu_s_per_iter"] / results["lif-eager"]["cpu_s_per_iter"]
    print(f"\nT = {args.steps}, batch {args.batch}, layers {layers}, {args.threads} thread(s), torch {torch.__version__}; "
          f"median of {args.runs} interleaved rounds; load average {results['loadavg_before'][0]:.2f} before, "
          f"{results['loadavg_after'][0]:.2f} after")
    print(f"{'network':18} {'samples/s':>10} {'ms/step':>8} {'× LIF step':>10} {'CPU × LIF':>10} "
          f"{'BPTT MB/sample':>15} {'warm-up s':>10}")
    for name in nets:
        res = results[name]
        print(f"{name:18} {res['samples_per_s']:10.1f} {res['s_per_iter'] / args.steps * 1e3:8.3f} "
              f"{res.get('ratio_to_lif_step', 1.0):10.3f} {res.get('cpu_ratio_to_lif_step', 1.0):10.3f} "
              f"{res['saved_bytes_per_sample'] / 1e6:15.3f} {res['warmup_s']:10.1f}")
    for name in ("memprop-compiled", "memprop-eager"):
        if name in results:
            print(f"{name} / lif per round: " + ", ".join(f"{q:.3f}" for q in results[name]["ratio_per_round"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
