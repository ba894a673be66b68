"""Whether a cell reads ohmically: its current I(v, x) equals v·G(x), so that an array of it is a
linear network at fixed states. One probe for every consumer with a linear path: the crossbar
twin (a linear nodal solve instead of the chord iteration) and MEMprop's synapse reads.

(choice) A probe, not a declaration: the registry states a cell's ``current``, not whether it is
linear, so the current is compared with v·G(x) at given voltages, at the given states and at the
states of g_min, the middle of the range and g_max. A current linear at these points and not
between them would be misjudged. The MSS with phi = 1 is ohmic, with its Schottky channel
(phi < 1) it is not; Yakopcic's sinh is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .registry import DeviceKind

#: the largest deviation |I − v·G| allowed, relative to the largest |v·G| probed (rounding only)
OHMIC_RTOL = 1e-9


def ohmic_deviation(kind: DeviceKind, params, volts: Sequence[float], states: torch.Tensor | None = None) -> float:
    """max |I(v, x) − v·G(x)| / max |v·G(x)| over ``volts`` (V) and the states (see the module
    docstring); 0 for a kind without ``current`` (its current is v·G(x) by definition)."""
    if not kind.declares("current"):
        return 0.0
    with torch.no_grad():
        probes = [] if states is None else [torch.as_tensor(states, dtype=torch.float64).detach().reshape(-1)]
        if kind.declares("conductance_range") and kind.declares("state_from_conductance"):
            g_min, g_max = (float(g) for g in kind.conductance_range(params))
            g = torch.tensor([g_min, 0.5 * (g_min + g_max), g_max], dtype=torch.float64)
            probes.append(torch.as_tensor(kind.state_from_conductance(g, params), dtype=torch.float64).reshape(-1))
        x = torch.cat(probes)[None, :]
        v = torch.tensor([float(u) for u in volts], dtype=torch.float64)[:, None]
        exact = torch.as_tensor(kind.cell_current(v, x.expand(v.shape[0], -1), params), dtype=torch.float64)
        linear = v * torch.as_tensor(kind.conductance(x, params), dtype=torch.float64)
        return float((exact - linear).abs().max() / linear.abs().max().clamp_min(1e-300))


def is_ohmic(kind: DeviceKind, params, volts: Sequence[float], states: torch.Tensor | None = None) -> bool:
    """:func:`ohmic_deviation` within :data:`OHMIC_RTOL`."""
    return ohmic_deviation(kind, params, volts, states) <= OHMIC_RTOL


__all__ = ["OHMIC_RTOL", "is_ohmic", "ohmic_deviation"]
