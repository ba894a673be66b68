"""MEMprop training throughput vs a plain PyTorch LIF network of the same size and T (one run).

    .venv/bin/python benchmarks/memprop_bench.py [--steps 1000] [--batch 128] [--layers 784,100,10]
                                                 [--iters 3] [--threads 1] [--json out.json]

Measures one training iteration (forward over T steps, BPTT backward, Adam step, projection)
at batch B, for:

* ``memprop-compiled``: :class:`spicegrad.memprop.model.MemPropNet` with the network step
  compiled by torch.compile (what ``spicegrad train memprop`` runs);
* ``memprop-eager``: the same network, eager;
* ``lif-eager``: an snnTorch-style Leaky (LIF) network written here: mem <- β·mem + I - S·θ
  (reset by subtraction, reset term detached as in snnTorch), spikes by a Heaviside with the
  arctan surrogate gradient (snnTorch's default), same layer sizes, same T, same loss (NLL of
  the output membrane summed over steps), the first layer's matrix product likewise computed
  once per sample.

Reports samples/s, seconds per time step, the ratio of the MEMprop step to the LIF step, and
BPTT memory per sample: the bytes of tensors saved for the backward pass (autograd
saved-tensor hooks, storages counted once) divided by B.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
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


def bench(name, model, opt, x, y, loss_fn, iters, project=None):
    times = []
    mem = None
    for it in range(iters + 1):  # iteration 0: warm-up (and torch.compile)
        t0 = time.perf_counter()
        if it == 1:
            out, mem = saved_bytes(lambda: model(x))
        else:
            out = model(x)
        loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if project:
            project()
        dt = time.perf_counter() - t0
        if it > 0:
            times.append(dt)
        print(f"  {name} iteration {it}: {dt:.3f} s{' (warm-up)' if it == 0 else ''}", flush=True)
    best = min(times)
    return {"s_per_iter": best, "s_per_iter_all": times, "samples_per_s": x.shape[0] / best,
            "saved_bytes_per_sample": mem / x.shape[0] if mem else None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--layers", default="784,100,10")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-eager", action="store_true", help="skip the eager MEMprop run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    layers = tuple(int(n) for n in args.layers.split(","))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, layers[0], generator=g)
    y = torch.randint(0, layers[-1], (args.batch,), generator=g)
    cfg = MemPropConfig(layers=layers, steps=args.steps)
    results = {"steps": args.steps, "batch": args.batch, "layers": list(layers), "threads": args.threads,
               "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}

    def run_memprop(compile_):
        net = MemPropNet(cfg, torch.Generator().manual_seed(0), compile=compile_)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        return bench(f"memprop-{'compiled' if compile_ else 'eager'}", net, opt, x, y,
                     lambda o, t: memprop_loss(o, t, cfg.logit_volt), args.iters, net.project_)

    results["memprop-compiled"] = run_memprop(True)
    if not args.skip_eager:
        results["memprop-eager"] = run_memprop(False)
    lif = LIFNet(layers, args.steps)
    opt = torch.optim.Adam(lif.parameters(), lr=1e-4)
    results["lif-eager"] = bench("lif-eager", lif, opt, x, y,
                                 lambda o, t: torch.nn.functional.cross_entropy(
                                     o.reshape(-1, o.shape[-1]), t.repeat(o.shape[0]), reduction="sum") / t.shape[0],
                                 args.iters)
    lif_s = results["lif-eager"]["s_per_iter"]
    for key in ("memprop-compiled", "memprop-eager"):
        if key in results:
            results[key]["ratio_to_lif_step"] = results[key]["s_per_iter"] / lif_s
    print(f"\nT = {args.steps}, batch {args.batch}, layers {layers}, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'network':18} {'samples/s':>10} {'ms/step':>8} {'× LIF step':>10} {'BPTT MB/sample':>15}")
    for key in ("memprop-compiled", "memprop-eager", "lif-eager"):
        if key in results:
            r = results[key]
            mb = (r["saved_bytes_per_sample"] or 0) / 1e6
            print(f"{key:18} {r['samples_per_s']:10.1f} {r['s_per_iter'] / args.steps * 1e3:8.3f} "
                  f"{r.get('ratio_to_lif_step', 1.0):10.2f} {mb:15.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return results


if __name__ == "__main__":
    main()
