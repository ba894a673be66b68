"""A crossbar layer whose forward pass is ngspice and whose backward pass is the twin's.

Physics-aware training (Wright et al., "Deep physical neural networks trained with
backpropagation", Nature 601, 549-555, 2022): the forward pass runs on the real system, so the
loss sees what the hardware does; the backward pass applies the vector-Jacobian product of a
differentiable model of it, evaluated at the same inputs and parameters. Here the real system is
the ngspice circuit with its periphery (:mod:`spicegrad.crossbar.periphery`: access
transistors, TIAs, ADCs, which no twin models) and the model is the ideal crossbar twin
(:class:`~spicegrad.crossbar.layers.CrossbarLayer`, wire resistances included) read out by an
ideal amplifier: y = r_f·(I⁺ - I⁻).

:class:`SpiceCrossbar` is used like ``nn.Linear``: input [*, R] row voltages (V), output [*, C]
(V). ``mode="spice"`` (default) runs the circuit forward and the twin backward;
``mode="twin"`` runs the twin both ways (training on the ideal twin, and the twin's own
accuracy). The gradient of the ADC's staircase is thus the identity (a straight-through
estimate, as the twin has no ADC), and of a saturated amplifier the ideal slope.

(choice) The output keeps the input's dtype and device; the circuit is evaluated in float64 on
the CPU (ngspice), its outputs cast back.
"""

from __future__ import annotations

import torch
from torch import nn

from ..crossbar.layers import CrossbarLayer, output_currents
from ..crossbar.periphery import TIA, Periphery
from ..crossbar.readout import ideal_gain
from ..crossbar.topology import CrossbarSpec
from ..errors import InputError
from .circuit import ReadCircuit

#: what a SpiceCrossbar's forward runs
MODES = ("spice", "twin")


class _CircuitForwardTwinBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, weight, layer):
        g = layer.twin.conductance().detach().to(torch.float64).cpu().numpy()
        y = layer.circuit.evaluate(g, v.detach().to(torch.float64).cpu().numpy(), layer.client)
        ctx.save_for_backward(v, weight)
        ctx.layer = layer
        return torch.as_tensor(y, dtype=v.dtype, device=v.device)

    @staticmethod
    def backward(ctx, grad_y):
        v, weight = ctx.saved_tensors
        need_v, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        with torch.enable_grad():
            v_ = v.detach().requires_grad_(need_v)
            w_ = weight.detach().requires_grad_(need_w)
            y = ctx.layer.twin_outputs(v_, w_)
            wanted = [t for t, need in ((v_, need_v), (w_, need_w)) if need]
            grads = iter(torch.autograd.grad(y, wanted, grad_y)) if wanted else iter(())
        return (next(grads) if need_v else None), (next(grads) if need_w else None), None


class SpiceCrossbar(nn.Module):
    """Weights W [R, C] on a crossbar read by ngspice, differentiated through the twin.

    ``spec``: the array (wire resistances are in both halves); ``periphery``: what only the
    circuit has (default: a TIA with the :class:`~spicegrad.crossbar.periphery.TIA` defaults);
    ``g_min``, ``g_max`` (S): the cells' conductance range, ``w_max`` the weight at g_max
    (larger ones clip); ``device``: the cell (a stateless one). ``client``: a Dask client to fan
    each batch out over its workers. ``mode``, ``slot``, ``options``: see
    :class:`~spicegrad.spiceloop.circuit.ReadCircuit`.

    Forward: [*, R] row voltages (V) -> [*, C] outputs (V, with a TIA; A without).
    ``circuit.timing`` accumulates the time spent rendering netlists and in ngspice.
    """

    def __init__(self, spec: CrossbarSpec, periphery: Periphery | None = None, g_min: float = 1e-6,
                 g_max: float = 1e-4, w_max: float = 1.0, device: str = "resistor", *,
                 weight: torch.Tensor | None = None, mode: str = "spice", client=None, circuit_mode: str | None = None,
                 slot: float = 1e-6, options: dict | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        periphery = Periphery(tia=TIA()) if periphery is None else periphery
        self.twin = CrossbarLayer(spec, g_min, g_max, w_max, weight, dtype=dtype)
        self.circuit = ReadCircuit(spec, periphery, device, circuit_mode, slot, options)
        self.gain = ideal_gain(periphery)
        self.client = client
        self.mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise InputError(f"SpiceCrossbar.mode = {value!r}: must be one of {MODES}")
        self._mode = value

    @property
    def weight(self) -> nn.Parameter:
        return self.twin.weight

    @property
    def spec(self) -> CrossbarSpec:
        return self.twin.spec

    def twin_outputs(self, v: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The twin's outputs [*, C] for row voltages ``v`` [*, R] (at ``weight``, default the
        layer's own): what the backward pass differentiates."""
        i = self.twin.currents(v, weight)
        return self.gain * output_currents(self.spec, i)

    def circuit_outputs(self, v: torch.Tensor) -> torch.Tensor:
        """The circuit's outputs [*, C] for row voltages ``v`` [*, R], no gradient."""
        with torch.no_grad():
            return self._spice(v)

    def _spice(self, v: torch.Tensor) -> torch.Tensor:
        flat = self.twin._rows(v)
        y = _CircuitForwardTwinBackward.apply(flat, self.weight, self)
        return y.reshape(*v.shape[:-1], self.spec.cols)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.mode == "twin":
            return self.twin_outputs(v)
        return self._spice(v)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, circuit={self.circuit.mode!r}, periphery: {self.circuit.periphery.describe()}"
