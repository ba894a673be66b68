"""Certificates of co-designed MIF neurons: every learned parameter set against ngspice.

After each epoch, training certifies each distinct learned parameter set of each MIF layer
(one per layer with ``mif_sharing="layer"``, up to one per neuron with ``"neuron"``) at the
training dt and integrator (:func:`spicegrad.validate.require_certified`: the MIF validation
cases with those parameters, twin against ngspice; certificates are cached, so an unchanged set
costs nothing). A set that fails stops training with an :class:`UnvalidatedConfigError` naming
the layer, the neurons, every learned value with its bound and the broken tolerances; the
checkpoint of the last certified epoch is left as it was. The certificates of the selected
network are copied into the run directory (``DIR/certificates/``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._io import atomic_write_json
from ..errors import InputError, UnvalidatedConfigError

#: folder of the run directory that holds the selected network's neuron certificates
CERT_DIR = "certificates"


def _where(layer: int, n_layers: int, neurons: list[int], size: int) -> str:
    role = "output" if layer == n_layers - 1 else "hidden"
    if len(neurons) == size:
        return f"MIF layer {layer + 1} of {n_layers} ({role}), all {size} neurons"
    shown = ", ".join(map(str, neurons[:8])) + (", ..." if len(neurons) > 8 else "")
    return f"MIF layer {layer + 1} of {n_layers} ({role}), neuron{'s' if len(neurons) > 1 else ''} {shown}"


def _at_bound(net, p) -> list[str]:
    """Learned fields within 1 % of their range from a bound (where a failure most likely comes from)."""
    near = []
    for name, b in net.neurons.bounds.items():
        value, span = getattr(p, name), b.hi - b.lo
        if value - b.lo < 0.01 * span or b.hi - value < 0.01 * span:
            near.append(f"{name} at its {'lower' if value - b.lo < 0.01 * span else 'upper'} bound")
    return near


def certify_neurons(net, cfg, out: Path | None = None, log=print) -> dict[str, Any]:
    """Certify every distinct learned MIF parameter set of ``net`` (a MemPropNet with learned
    neurons) at ``cfg.net.dt`` and ``cfg.net.integrator``; returns the records per layer. Raises
    :class:`UnvalidatedConfigError` for a set that fails (unless ``cfg.allow_unvalidated``: then
    the record says ``validated: False``)."""
    from ..validate import require_certified

    n_layers, dt, integrator = len(net.sizes), cfg.net.dt, cfg.net.integrator
    layers = []
    groups_per_layer = []
    for layer in range(n_layers):
        groups: dict[Any, list[int]] = {}
        for j, p in enumerate(net.neuron_params(layer)):
            groups.setdefault(p, []).append(j)
        groups_per_layer.append(groups)
    total = sum(len(g) for g in groups_per_layer)
    if total > n_layers:
        log(f"certifying {total} learned MIF parameter sets against ngspice (cached sets are free; a new one takes "
            "about 20 s)")
    for layer, groups in enumerate(groups_per_layer):
        sets = []
        for p, neurons in groups.items():
            where = _where(layer, n_layers, neurons, net.sizes[layer])
            try:
                cert = require_certified("mif", p, dt, integrator, allow_unvalidated=cfg.allow_unvalidated)
            except UnvalidatedConfigError as exc:
                near = _at_bound(net, p)
                raise UnvalidatedConfigError(
                    f"{where}: the learned parameters {net.neurons.describe(p)}"
                    + (f" ({', '.join(near)})" if near else "")
                    + f" left the region where the MIF twin is certified at dt = {dt:g} s, {integrator}: {exc} "
                    "Training stopped before saving this epoch: the checkpoint holds the last certified epoch. Narrow "
                    "the bound of the parameter named (mif_bounds, --mif-bound NAME=LO:HI) or lower --mif-lr.") from None
            sets.append({"neurons": neurons, "where": where,
                         "learned": {name: getattr(p, name) for name in net.neurons.bounds},
                         "validated": cert.get("validated"), "key": cert.get("key"), "failures": cert.get("failures"),
                         "certificate": cert})
        layers.append({"layer": layer + 1, "sets": sets})
    return {"dt": dt, "integrator": integrator, "sharing": net.neurons.sharing,
            "bounds": {name: list(b) for name, b in net.neurons.bounds.items()}, "layers": layers}


#: what write_neuron_certificates wrote last, so that it removes only its own files
MANIFEST = "written-by-spicegrad.json"


def write_neuron_certificates(out: Path, records: dict[str, Any]) -> list[Path]:
    """The certificates of ``records`` as JSON files in ``out/certificates/`` (one per set:
    ``mif-layer<L>-set<k>.json``). Certificates of an earlier selection that are no longer
    named are removed: only files this function wrote (listed in its manifest), nothing else
    in the folder. A ``certificates`` that is a symbolic link is refused."""
    folder = Path(out) / CERT_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(f"{folder}: not a plain folder (a symbolic link or a file); spicegrad writes the neuron "
                         "certificates only into a folder of its own inside the run directory")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        before = set(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        before = set()
    names = []
    for layer in records["layers"]:
        for k, rec in enumerate(layer["sets"]):
            name = f"mif-layer{int(layer['layer'])}-set{k}.json"
            atomic_write_json(folder / name, {**{key: v for key, v in rec.items() if key != "certificate"},
                                              "certificate": rec["certificate"]})
            names.append(name)
    atomic_write_json(folder / MANIFEST, {"files": names})
    for stale in before - set(names):
        if _OWN_NAME.fullmatch(str(stale)) and (folder / stale).is_file():
            (folder / stale).unlink()
    return [folder / name for name in names]


_OWN_NAME = re.compile(r"mif-layer\d+-set\d+\.json")


def summary(records: dict[str, Any] | None) -> dict[str, Any] | None:
    """``records`` without the full certificates (for metrics.json)."""
    if records is None or "layers" not in records:
        return records
    return {**records, "layers": [{"layer": layer["layer"], "sets": [{k: v for k, v in rec.items() if k != "certificate"}
                                                                      for rec in layer["sets"]]}
                                  for layer in records["layers"]]}
