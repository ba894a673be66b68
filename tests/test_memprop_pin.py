"""MEMprop forward values and gradients pinned, at float64, to the network equations written
with the MIF twin's own step (:func:`spicegrad.devices.mif.mif_step`), layer by layer: a change
that makes the network step cheaper must leave its numbers where they are."""

from __future__ import annotations

import pytest
import torch

from spicegrad.devices.mif import MIFParams, MIFState, mif_rest_state, mif_step
from spicegrad.memprop.model import (
    FusedMIFStep,
    MemPropConfig,
    MemPropNet,
    alpha_envelope,
    memprop_loss,
)

CFG = MemPropConfig(layers=(49, 12, 8, 5), steps=120, inject_every=40)


def twin_forward(net: MemPropNet, x: torch.Tensor) -> torch.Tensor:
    """The module docstring's network equations with one ``mif_step`` per layer and step."""
    c = net.cfg
    p = c.mif_params
    env = alpha_envelope(c).double()  # the network keeps its envelope as float32 (a buffer), at any dtype
    ws = [net.weights(layer) for layer in range(net.n_layers)]
    rest = mif_rest_state(p)
    states = [MIFState(*(torch.full((x.shape[0], n), float(s), dtype=torch.float64) for s in rest)) for n in c.layers[1:]]
    u = (c.input_amplitude * x) @ ws[0]
    outs = []
    for k in range(c.steps):
        currents = [env[k] * u] + [(s.v - c.v_ref) @ w for s, w in zip(states[:-1], ws[1:], strict=True)]
        states = [mif_step(i, s, p, c.dt, "exp-euler") for i, s in zip(currents, states, strict=True)]
        outs.append(states[-1].v)
    return torch.stack(outs)


def test_network_forward_and_gradients_match_the_twin_equations_in_float64(one_thread):
    net = MemPropNet(CFG, torch.Generator().manual_seed(0)).double()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, CFG.layers[0], generator=g, dtype=torch.float64) * 3  # strong drive: the MIFs fire
    y = torch.arange(6) % CFG.layers[-1]
    got = net(x, eager=True)
    ref = twin_forward(net, x)
    assert float(ref.detach().max() - ref.detach().min()) > 0.1  # the outputs swing (spikes), not just rest
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    grads = []
    for v in (got, ref):
        net.zero_grad(set_to_none=True)
        memprop_loss(v, y, CFG.logit_volt).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("preset", ["default", *MIFParams.PRESETS])
def test_fused_step_matches_the_twin_step_for_every_preset_in_float64(preset):
    """The fused step's four switch sigmoids come from one exponential (both polarities of M2);
    a strong alternating drive takes V well past the thresholds, where they saturate."""
    p = MIFParams() if preset == "default" else MIFParams.preset(preset)
    fused = FusedMIFStep(p, 1e-5)
    assert fused.shared is not None
    ref = MIFState(*(torch.full((5,), float(t), dtype=torch.float64) for t in mif_rest_state(p)))
    got = tuple(ref)
    currents = torch.tensor([0.0, 10e-6, 40e-6, -20e-6, 400e-6], dtype=torch.float64)
    swing = 0.0
    for k in range(300):
        i = currents * (1.0 if (k // 50) % 2 == 0 else -0.5)
        ref = mif_step(i, ref, p, 1e-5, "exp-euler")
        got = fused(i, *got)
        swing = max(swing, float(ref.v.abs().max()))
    assert swing > 0.3  # past every threshold
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_fused_step_stays_finite_with_finite_gradients_far_outside_the_thresholds():
    """At |V| of volts the shared exponential is clamped: sigmoids saturate to 0/1 in float32,
    and the backward pass has no inf/inf or 0·inf. ±1.25 V and ±1.5 V sit inside the clamp where
    E² underflows in float32 (the NaN gradients of a seed-2 run at lr 1e-3, output membrane 1.23 V)."""
    p = MIFParams.preset("memprop")
    fused = FusedMIFStep(p, 1e-5)
    v = torch.tensor([-50.0, -3.0, -1.5, -1.25, -0.3, 0.0, 0.3, 1.25, 1.5, 3.0, 50.0], requires_grad=True)
    x1, x2 = torch.full_like(v, 0.5), torch.full_like(v, 0.5)
    out = fused(torch.zeros_like(v), v, x1, x2)
    assert all(bool(torch.isfinite(t).all()) for t in out)
    sig = torch.stack(fused._sigmoids(v.detach().double(), fused.c))
    ref = torch.stack(FusedMIFStep._sigmoids(_unshared(fused), v.detach().double(), fused.c))
    torch.testing.assert_close(sig, ref, rtol=1e-14, atol=1e-17)  # saturated: within e^-40
    sum(t.sum() for t in out).backward()
    assert bool(torch.isfinite(v.grad).all())


def _unshared(fused: FusedMIFStep) -> FusedMIFStep:
    """The same step with the four sigmoids taken one by one (torch.sigmoid)."""
    other = FusedMIFStep(fused.p, fused.dt, fused.integrator)
    other.shared = None
    return other
