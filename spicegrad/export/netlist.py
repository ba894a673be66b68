"""Back to SPICE: a trained MEMprop network as an ngspice netlist, and twin-vs-ngspice verification.

``export_netlist(net, image)`` writes the network of a checkpoint for one input image with the
subcircuits of ``spicegrad/models/`` (mif.lib, alpha.lib) and the synapse device's library
(``kind.lib_path()``: mss.lib by default, a registered device's own ``.lib`` otherwise):

* **input**: one ``alpha`` subcircuit (w = 1 A) driven by unit-area spike pulses at t = 0,
  P·dt, 2P·dt, ... gives the shared envelope current, read by the ammeter ``Venv``; word line
  i is a CCCS copy of it, A_in·p_i/R_w, into a tiny resistor R_w = 1 mΩ, i.e. a voltage
  source A_in·p_i·a(t) (loading error ≤ R_w·Σ_row G, below 1e-4 here). Dark pixels (p = 0)
  carry no current and are left out.
* **synapses**: per layer and pair, G+ from the word line to bit line ``bp``, G- to ``bn``;
  ``static=True`` writes fixed resistors 1/G (legitimate while the devices do not move under
  their read voltages: :func:`static_check` says whether they do), otherwise programmed devices
  of the network's synapse kind (``kind.subckt`` between word and bit line, its
  ``grounded_pins`` on ground, every parameter of the network's record, and the initial state
  ``kind.program(G)``; for MSS x0 = the trained x itself, see :mod:`spicegrad.memprop.model`).
* **bit lines** are held at 0 V by ammeters (V sources); a CCCS pair injects
  s_l·(i(Vbp) - i(Vbn)) into the next MIF membrane: the current scaling as controlled sources.
* **hidden membranes** drive the next crossbar's word lines through unity-gain VCVS buffers
  (v_ref = 0 V), so a neuron is not loaded by its fan-out (the twin's assumption).
* **neurons**: ``mif`` subcircuits with the network's MIF parameters, started at rest.

``verify(checkpoint, n)`` simulates test samples 0..n-1 in ngspice (fanned out on Dask with
``workers``) and compares the predicted class and the output-membrane RMS difference with the
twin. (choice) The twin's layers see the previous layer's membrane one step late (see
:mod:`spicegrad.memprop.model`); ngspice has no such delay, which is part of the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._progress import progress
from ..devices.mif import MIFParams, mif_rest_state
from ..errors import InputError
from ..memprop.choices import DEFAULT_SYNAPSE
from ..memprop.drift import static_check
from ..memprop.model import MemPropNet, pair_conductance, predict
from ..spice.library import lib_path
from ..spice.netlist import Netlist, check_name, number, pwl
from ..spice.provenance import check_include_mode, header, python_call, run_hint
from ..stimuli import grid_steps

R_WORD = 1e-3  # Ω, word-line sense resistor (see module docstring)
SPIKE_WIDTH_FRACTION = 0.01  # spike pulse width as a fraction of dt


class _Netlist(Netlist):
    """Netlist plus the two controlled sources the export needs (tokens checked as in Netlist)."""

    def vcvs(self, name: str, plus: str, minus: str, cplus: str, cminus: str, gain: float) -> None:
        self._element("E" + name, (plus, minus, cplus, cminus), [number(gain, f"E{name} gain")])

    def cccs(self, name: str, plus: str, minus: str, vsource: str, gain: float) -> None:
        self._element("F" + name, (plus, minus), [check_name(vsource, "controlling source"), number(gain, f"F{name} gain")])


def _spike_source(cfg) -> Any:
    width = SPIKE_WIDTH_FRACTION * cfg.dt
    edge = width * 1e-2
    times, values = [0.0], [0.0]
    for k in range(0, cfg.steps, cfg.inject_every):
        t0 = k * cfg.dt
        times += [t0 + edge, t0 + width, t0 + width + edge] if k == 0 else [t0, t0 + edge, t0 + width, t0 + width + edge]
        values += [1.0 / width, 1.0 / width, 0.0] if k == 0 else [0.0, 1.0 / width, 1.0 / width, 0.0]
    return pwl(times, values)


def programmed_params(net: MemPropNet, u: np.ndarray) -> dict[str, np.ndarray]:
    """Instance parameters that start each synapse of normalised conductance ``u`` (float64
    array) at G = g_min + (g_max - g_min)·u: ``kind.program(G)``, shaped like ``u``; for MSS the
    state x0 = u itself (u is x; the round trip through G would round its last bit)."""
    cfg = net.cfg
    if cfg.synapse == DEFAULT_SYNAPSE:
        return {cfg.synapse_kind.initial_state: u}
    programmed = cfg.synapse_kind.program(pair_conductance(u, net.g_range), cfg.synapse_params)
    return {k: np.asarray(v, dtype=float).reshape(u.shape) for k, v in programmed.items()}


def _synapse_pins(kind) -> tuple[str, ...]:
    """The nodes after (te, be) of a synapse instance: its grounded pins on 0."""
    extra = kind.pins[2:]
    loose = [p for p in extra if p not in kind.grounded_pins]
    if loose:
        raise InputError(f"export: synapse device {kind.name!r} has pins {list(loose)} beyond te, be that are not "
                         "grounded_pins: the export can only tie extra pins to ground")
    return ("0",) * len(extra)


def export_netlist(net: MemPropNet, image: torch.Tensor, static: bool = False, max_step: float | None = None,
                   title: str = "MEMprop network", read_scale: float | str = "auto",
                   masks: list[torch.Tensor] | None = None, include: str = "inline", source: str | None = None,
                   facts: Mapping[str, object] | None = None) -> str:
    """ngspice netlist of ``net`` driven by ``image`` (pixels in [0, 1]); probes v(m<L>_<j>).

    ``read_scale`` r multiplies every word-line voltage and divides every current-scaling gain:
    with static conductances the neurons see identical currents, and the devices see r times
    smaller read voltages (see :func:`static_check`); ``"auto"`` (default) takes the largest
    scale that keeps the devices' drift over the sample below 1 % of their range. ``masks``
    (per layer, [n_in, n_out], True = the pair exists; a compressed checkpoint's
    ``compression.masks``) leave pruned pairs out: removed devices, no current.

    The netlist runs unchanged with ``ngspice -b`` (:mod:`spicegrad.spice.provenance`): the
    subcircuits are copied in (``include="absolute"``: ``.include`` by absolute path), the
    output membranes are printed (``.print tran``), and a header names ``source`` (the command
    line; default: this call), the read scale and ``facts`` (e.g. the checkpoint and its SHA-256).
    """
    cfg = net.cfg
    if max_step is not None and not (isinstance(max_step, (int, float)) and cfg.dt * 1e-6 <= max_step <= cfg.dt):
        raise ValueError(f"export: max_step = {max_step!r} s: must lie between dt·1e-6 and dt = {cfg.dt:g} s "
                         "(ngspice's largest time step; default dt/10)")
    if read_scale == "auto":
        read_scale = static_check(net, image[None], read_scale="auto")["read_scale"]
    if not (isinstance(read_scale, (int, float)) and 0 < read_scale <= 1):
        raise ValueError(f"export: read_scale = {read_scale}: must lie in (0, 1]")
    if cfg.v_ref != 0.0:
        raise ValueError(f"export: v_ref = {cfg.v_ref} V is not supported (word-line buffers are unity-gain to ground)")
    neurons = [_neuron_instances(net, layer) for layer in range(net.n_layers)]  # MIF parameters + rest per neuron
    syn, kind = cfg.synapse_params, cfg.synapse_kind
    grounded = _synapse_pins(kind)
    check_include_mode(include)
    n = _Netlist(title)
    libraries = [lib_path("mif"), lib_path("alpha"), *(() if static else (kind.lib_path(),))]
    for lib in libraries:
        n.library(lib, include)
    n.vsource("spk", "spk", "0", _spike_source(cfg))
    n.subckt("alpha", ("spk", "env"), "alpha", {"tau_alpha": cfg.tau_alpha, "w": 1.0})
    n.vsource("env", "env", "0", 0.0)
    pixels = image.reshape(-1).double().cpu().numpy()
    rows = [i for i in range(len(pixels)) if pixels[i] > 0]
    for i in rows:
        n.cccs(f"in_{i}", "0", f"w0_{i}", "Venv", read_scale * cfg.input_amplitude * pixels[i] / R_WORD)
        n.resistor(f"w0_{i}", f"w0_{i}", "0", R_WORD)
    for layer in range(net.n_layers):
        xp = net.x_pos[layer].detach().double().cpu().numpy()
        xn = net.x_neg[layer].detach().double().cpu().numpy()
        gp, gn = pair_conductance(xp, net.g_range), pair_conductance(xn, net.g_range)
        if not static:
            prog_p, prog_n = programmed_params(net, xp), programmed_params(net, xn)
            common = {k: v for k, v in syn.spice_params().items() if k not in prog_p and k != kind.initial_state}
        in_rows = rows if layer == 0 else range(xp.shape[0])
        kept = np.ones(xp.shape, dtype=bool) if masks is None else masks[layer].cpu().numpy().astype(bool)
        if kept.shape != xp.shape:
            raise ValueError(f"export: mask of layer {layer + 1} is {kept.shape}, the synapses are {xp.shape}")
        for j in range(xp.shape[1]):
            bp, bn = f"bp{layer}_{j}", f"bn{layer}_{j}"
            for i in in_rows:
                if not kept[i, j]:
                    continue
                wl = f"w{layer}_{i}"
                if static:
                    n.resistor(f"p{layer}_{i}_{j}", wl, bp, 1.0 / gp[i, j])
                    n.resistor(f"n{layer}_{i}_{j}", wl, bn, 1.0 / gn[i, j])
                else:
                    n.subckt(f"p{layer}_{i}_{j}", (wl, bp, *grounded), kind.subckt,
                             {**common, **{k: float(a[i, j]) for k, a in prog_p.items()}})
                    n.subckt(f"n{layer}_{i}_{j}", (wl, bn, *grounded), kind.subckt,
                             {**common, **{k: float(a[i, j]) for k, a in prog_n.items()}})
            n.vsource(bp, bp, "0", 0.0)
            n.vsource(bn, bn, "0", 0.0)
            m = f"m{layer + 1}_{j}"
            s = cfg.current_scale[layer] / read_scale
            n.cccs(f"p{layer}_{j}", "0", m, f"V{bp}", s)
            n.cccs(f"n{layer}_{j}", m, "0", f"V{bn}", s)
            n.subckt(f"n{layer + 1}_{j}", (m,), "mif", neurons[layer][j])
            if layer + 1 < net.n_layers:
                n.vcvs(f"w{layer + 1}_{j}", f"w{layer + 1}_{j}", "0", m, "0", read_scale)
    t_stop = cfg.steps * cfg.dt
    n.tran(cfg.dt, t_stop, max_step=max_step if max_step is not None else cfg.dt / 10)
    outputs = [f"v(m{net.n_layers}_{j})" for j in range(cfg.layers[-1])]
    n.save(*outputs)
    n.print_tran(*outputs)
    if source is None:
        source = python_call("spicegrad.export.export_netlist", f"<MemPropNet {'-'.join(map(str, cfg.layers))}>",
                             "<image>", static=static)
    n.header = header(source, {**(facts or {}), "read scale": f"{read_scale!r} (word-line voltages x r, current "
                               "gains / r)", "synapses": "fixed conductances" if static else f"programmed {kind.name} devices"},
                      libraries=libraries, include=include, hint=run_hint(outputs, "tran"))
    return n.render()


def _neuron_instances(net: MemPropNet, layer: int) -> list[dict[str, float]]:
    """The subcircuit parameters of each MIF neuron of ``layer``: its device parameters (the
    seed preset's, or the co-designed values the network learned) and its rest state as the
    initial condition, computed once per distinct parameter set."""
    rest_of: dict[MIFParams, dict[str, float]] = {}
    out = []
    for p in net.neuron_params(layer):
        if p not in rest_of:
            rest = [float(t) for t in mif_rest_state(p)]
            rest_of[p] = {**p.spice_params(), **dict(zip(("v0", "x10", "x20"), rest, strict=True))}
        out.append(rest_of[p])
    return out


def compression_masks(state: dict[str, Any]) -> list[torch.Tensor] | None:
    """The pruning masks of a compressed checkpoint (``spicegrad compress``), or None."""
    record = state.get("compression") or {}
    return record.get("masks")


def _simulate_sample(netlist: str, n_layers: int, n_out: int, dt: float, steps: int, timeout: float) -> np.ndarray:
    from ..spice import run

    result = run(netlist, timeout=timeout)
    t = grid_steps(dt, steps)[1:]
    return np.stack([result.at(f"v(m{n_layers}_{j})", t) for j in range(n_out)], axis=1)  # [T, C]


def verify(
    checkpoint: str | Path,
    n: int,
    data: str | Path | None = None,
    static: bool = False,
    read_scale: float | str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    timeout: float = 1800.0,
    files: Mapping[int, str | Path] | None = None,
    max_step: float | None = None,
) -> dict[str, Any]:
    """Twin vs ngspice on test samples 0..n-1: class agreement and output-membrane RMS (V).

    ``max_step``: ngspice's largest time step in the fresh exports (default dt/10, as
    :func:`export_netlist`).

    ``files`` maps a test sample to a netlist already written for it (``spicegrad export -o``):
    ngspice runs that file's text as written instead of a fresh export, so what is verified is
    the file itself; a sample at n or beyond is verified in addition to 0..n-1.
    """
    import time

    from ..datasets import load_dataset
    from ..memprop.train import MemPropTrainConfig, load_net

    net, state = load_net(checkpoint)
    cfg = MemPropTrainConfig.from_dict(state["config"])
    size = cfg.image_size if cfg.image_size != 28 else None
    files = {int(k): Path(v) for k, v in (files or {}).items()}
    samples = sorted(set(range(n)) | set(files))
    if not samples or min(samples) < 0:
        raise ValueError(f"verify: n = {n}, files for samples {sorted(files)}: give at least one sample, none below 0")
    test = load_dataset(cfg.dataset, "test", data, samples[-1] + 1, size)
    if samples[-1] >= len(test):
        raise ValueError(f"verify: test sample {samples[-1]} requested; the test set has {len(test)} samples")
    x = test.flat()[samples]
    labels = test.labels[samples]
    with torch.no_grad():
        v_twin = net(x, eager=True).double().numpy()  # [T, n, C]
    fresh = [k for k, s in enumerate(samples) if s not in files]
    check = static_check(net, x[fresh] if fresh else x, read_scale=read_scale)  # one scale for the fresh exports
    masks = compression_masks(state)
    netlists = [files[s].read_text() if s in files else
                export_netlist(net, x[k], static=static, read_scale=check["read_scale"], masks=masks, max_step=max_step)
                for k, s in enumerate(samples)]
    args = (net.n_layers, net.cfg.layers[-1], net.cfg.dt, net.cfg.steps, timeout)
    t0 = time.perf_counter()
    bar = progress(total=len(netlists), desc="verify: ngspice runs the exported network", unit="sample")
    if workers is None and scheduler is None:
        traces = []
        for text in netlists:
            traces.append(_simulate_sample(text, *args))
            bar.update()
    else:
        from ..validate.fanout import dask_client, gather

        client, cluster = dask_client(workers, scheduler)
        try:
            futures = client.map(_simulate_sample, netlists, *[[a] * len(netlists) for a in args], pure=False)
            traces = gather(client, futures, on_result=bar.update)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    wall = time.perf_counter() - t0
    v_spice = np.stack(traces, axis=1)  # [T, n, C]
    pred_twin = predict(torch.from_numpy(v_twin)).numpy()
    pred_spice = predict(torch.from_numpy(v_spice)).numpy()
    rms = np.sqrt(((v_twin - v_spice) ** 2).mean(axis=(0, 2)))
    return {
        "samples": len(samples),
        "sample_indices": samples,
        "netlist_files": {str(s): str(f) for s, f in files.items()},
        "agree": int((pred_twin == pred_spice).sum()),
        "pred_twin": pred_twin.tolist(),
        "pred_spice": pred_spice.tolist(),
        "labels": labels.tolist(),
        "rms_V": rms.tolist(),
        "rms_V_max": float(rms.max()),
        "ngspice_wall_s": wall,
        "ngspice_wall_s_per_sample": wall / len(samples),
        "workers": workers,
        "max_step_s": max_step if max_step is not None else net.cfg.dt / 10,
        "static_synapses": static,
        "read_scale": check["read_scale"],
        "static_check": check,
    }
