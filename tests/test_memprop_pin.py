"""MEMprop forward values and gradients pinned, at float64, to the network equations written
with the MIF twin's own step (:func:`spicegrad.devices.mif.mif_step`), layer by layer: a change
that makes the network step cheaper must leave its numbers where they are."""

from __future__ import annotations

import torch

from spicegrad.devices.mif import MIFState, mif_rest_state, mif_step
from spicegrad.memprop.model import MemPropConfig, MemPropNet, alpha_envelope, memprop_loss

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
