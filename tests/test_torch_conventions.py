"""Torch layers behave like torch layers: dtype and device follow the input, inputs [*, R],
higher derivatives either right or refused, twins on meta tensors (shape inference).

Matrix: dtype {float32, float64} x device {cpu, cuda (skipped without a CUDA device)}.
Arrays are small (6 x 4) so the whole file runs in a few seconds.
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from spicegrad.crossbar.layers import CrossbarLayer
from spicegrad.crossbar.nodal import NodalSystem, ReusedFactorSolver
from spicegrad.crossbar.topology import CrossbarSpec
from spicegrad.devices.alpha import AlphaCurrent
from spicegrad.devices.mif import MIF
from spicegrad.devices.mss import MSS
from spicegrad.devices.pcm import PCMArray
from spicegrad.eprop.model import _SpikeFn
from spicegrad.errors import InputError

DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device here: the cuda half of the matrix needs one")),
]
ROWS, COLS = 6, 4
#: MSS conductance range (S), as the crossbar tests use
G_MIN, G_MAX = 1 / 1500, 1 / 500
SPECS = {
    "ideal": CrossbarSpec(ROWS, COLS),
    "wired": CrossbarSpec(ROWS, COLS, r_wire=2.0, r_driver=1.0, r_sense=1.0),
    "wired-single": CrossbarSpec(ROWS, COLS, pairs="single", r_wire=2.0),
}


def weights(spec: CrossbarSpec) -> torch.Tensor:
    w = torch.rand(ROWS, COLS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return w if spec.pairs == "single" else 2 * w - 1


def rows(*shape: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    v = 0.1 * torch.rand(*shape, ROWS, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    return v.to(device=device, dtype=dtype)


def layer(kind: str) -> CrossbarLayer:
    spec = SPECS[kind]
    return CrossbarLayer(spec, G_MIN, G_MAX, weight=weights(spec))


def within_rounding(out: torch.Tensor, ref: torch.Tensor) -> bool:
    """|out - ref| within 4 units of the output dtype's rounding of max|ref| (the layer computes
    in float64 where the weight is float64, so a float32 output is the float64 result rounded)."""
    bound = 4 * torch.finfo(out.dtype).eps * ref.abs().max()
    return bool(((out.double().cpu() - ref).abs() <= bound).all())


# --- CrossbarLayer: dtype and device --------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_crossbar_layer_output_and_gradients_follow_the_input(kind, dtype, device):
    ref_layer = layer(kind)
    v_ref = rows(3).requires_grad_()
    ref = ref_layer(v_ref)
    ref.sum().backward()

    lay = layer(kind).to(device)
    v = rows(3, dtype=dtype, device=device).requires_grad_()
    out = lay(v)
    assert (out.dtype, out.device.type, out.shape) == (dtype, device, (3, COLS))
    assert within_rounding(out, ref.detach())
    out.sum().backward()
    assert (v.grad.dtype, v.grad.device.type) == (dtype, device)
    assert (lay.weight.grad.dtype, lay.weight.grad.device.type) == (torch.float64, device)
    assert within_rounding(v.grad, v_ref.grad)
    # the weight sees the input only through its float rounding: same gradient to that rounding
    assert torch.allclose(lay.weight.grad.cpu(), ref_layer.weight.grad, rtol=8 * torch.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ideal", "wired"])
def test_crossbar_layer_inside_sequential_after_a_dtype_cast(kind, dtype, device):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, ROWS), layer(kind), nn.Linear(COLS, 3))
    net = (net.float() if dtype == torch.float32 else net.double()).to(device)
    assert net[1].weight.dtype == dtype and net[1].weight.device.type == device
    x = torch.rand(8, 5, dtype=dtype, device=device)
    y = net(x)
    assert (y.dtype, y.device.type, y.shape) == (dtype, device, (8, 3))
    y.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.dtype == dtype and p.grad.device.type == device, name
        assert torch.isfinite(p.grad).all(), name


def test_crossbar_layer_factory_kwargs_and_dtype_round_trip():
    lay = CrossbarLayer(SPECS["ideal"], G_MIN, G_MAX, weight=weights(SPECS["ideal"]), dtype=torch.float32)
    assert lay.weight.dtype == torch.float32
    assert lay.double().weight.dtype == torch.float64 and lay.float().weight.dtype == torch.float32
    assert CrossbarLayer(SPECS["ideal"], G_MIN, G_MAX).weight.dtype == torch.float64  # default
    with pytest.raises(InputError, match="floating-point"):
        CrossbarLayer(SPECS["ideal"], G_MIN, G_MAX, dtype=torch.int64)
    with pytest.raises(InputError, match=r"shape \(3, 4\) does not match"):
        CrossbarLayer(SPECS["ideal"], G_MIN, G_MAX, weight=torch.zeros(3, 4))


def test_float32_layer_on_a_wired_array_keeps_float64_accuracy():
    """A .float() layer: weights rounded to float32, then solved in float64 and cast back.
    Its error is the float32 rounding of the weights and the output, not the solve's."""
    spec = CrossbarSpec(32, 16, r_wire=1.0)
    w = 2 * torch.rand(32, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 1
    v = 0.1 * torch.rand(64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = CrossbarLayer(spec, G_MIN, G_MAX, weight=w.float().double())(v)  # float32 weights, float64 all through
    out = CrossbarLayer(spec, G_MIN, G_MAX, weight=w).float()(v.float())
    assert out.dtype == torch.float32
    assert within_rounding(out, ref.detach())


# --- [*, R] inputs --------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ideal", "wired"])
@pytest.mark.parametrize("lead", [(), (3,), (2, 3), (2, 1, 3), (0,)], ids=str)
def test_crossbar_layer_takes_any_leading_axes(lead, kind, dtype, device):
    lay = layer(kind).to(device)
    v = rows(*lead, dtype=dtype, device=device)
    out = lay(v)
    assert out.shape == (*lead, COLS) and out.dtype == dtype
    flat = lay(v.reshape(-1, ROWS))
    assert torch.equal(out.reshape(-1, COLS), flat)
    cp = SPECS[kind].physical_cols
    assert lay.currents(v).shape == (*lead, cp)


@pytest.mark.parametrize("bad, what", [
    (torch.zeros(3, ROWS + 1), r"input shape \(3, 7\); need \[\*, 6\]"),
    (torch.zeros(ROWS, 2), r"input shape \(6, 2\); need \[\*, 6\]"),
    (torch.tensor(1.0), r"input shape \(\); need \[\*, 6\]"),
    (torch.zeros(3, ROWS, dtype=torch.int64), r"input dtype torch.int64 \(shape \(3, 6\)\); need a floating-point"),
    (torch.zeros(3, ROWS, dtype=torch.complex64), r"input dtype torch.complex64"),
    ([0.1] * ROWS, r"input is a list; need a floating-point tensor \[\*, 6\]"),
], ids=["last-axis", "transposed", "scalar", "int", "complex", "list"])
@pytest.mark.parametrize("kind", ["ideal", "wired"])
def test_crossbar_layer_refuses_bad_inputs_naming_shape_and_what_is_allowed(bad, what, kind):
    with pytest.raises(InputError, match=what) as err:
        layer(kind)(bad)
    assert "[B, T, 6]" in str(err.value)


@pytest.mark.parametrize("args, what", [
    ((G_MIN, G_MAX, 0.0), r"w_max = 0.0: must be > 0"),
    ((G_MAX, G_MIN), r"g_max = .* must exceed g_min"),
    ((float("nan"), G_MAX), r"g_min = nan: must be a finite"),
    ((-1.0, G_MAX), r"g_min = -1.0: must be > 0"),
], ids=["w_max-zero", "g_max-below-g_min", "g_min-nan", "g_min-negative"])
def test_crossbar_layer_refuses_a_bad_device_range(args, what):
    with pytest.raises(ValueError, match=what):
        CrossbarLayer(SPECS["ideal"], *args)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_crossbar_layer_on_meta_tensors_gives_the_output_shape(kind):
    out = layer(kind)(torch.empty(2, 5, ROWS, device="meta", dtype=torch.float32))
    assert out.device.type == "meta" and out.shape == (2, 5, COLS) and out.dtype == torch.float32


# --- higher derivatives -----------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_crossbar_layer_is_twice_differentiable(kind, device):
    """gradgradcheck needs float64 (finite differences); the float32 half of the matrix is the
    first-order test above."""
    spec = SPECS[kind]
    w = weights(spec).to(device).requires_grad_()
    v = rows(2, device=device).requires_grad_()

    lay = CrossbarLayer(spec, G_MIN, G_MAX, device=device)
    # the weight as a function input, so gradgradcheck perturbs it too
    assert torch.autograd.gradgradcheck(lambda w, v: functional_call(lay, {"weight": w}, (v,)), (w, v))


def test_nodal_solves_are_twice_differentiable_direct_and_reused_factor():
    """Both solve paths of NodalSystem (one LU; CG preconditioned with a reused LU) run through
    the same Function, whose backward is written with itself: second derivatives are exact."""
    spec = CrossbarSpec(3, 2, r_wire=5.0, r_driver=2.0, r_sense=3.0)
    system = NodalSystem(spec)
    g = (1e-3 + 9e-3 * torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    v = torch.rand(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g.requires_grad_()
    v.requires_grad_()
    assert torch.autograd.gradgradcheck(lambda g, v: system.solve(g, v)["i"], (g, v))
    reused = ReusedFactorSolver(system)
    assert torch.autograd.gradgradcheck(lambda g, v: system.solve(g, v, reused)["i"], (g, v))
    assert reused.solves > reused.factorisations >= 1  # CG with a kept LU did serve solves


def test_spike_function_refuses_second_derivatives():
    """The e-prop pseudo-derivative is once differentiable (@once_differentiable): a second
    derivative raises instead of returning the derivative of the surrogate."""
    v = torch.tensor([0.1, 0.45, 0.6, 0.9], dtype=torch.float64, requires_grad=True)
    spike = lambda v: _SpikeFn.apply(v, 0.5, 0.3)  # noqa: E731
    assert torch.autograd.gradcheck(lambda v: spike(v) * 0 + v, (v,))  # first order runs
    with pytest.raises(RuntimeError):
        torch.autograd.gradgradcheck(spike, (v,))
    grad_out = torch.ones(4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(spike(v), v, grad_out, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()


# --- the twins' simulate: dtype and device follow the input; meta tensors ---------------------


def _twin_runs(dtype, device):
    """(name, run, expected shapes) for each twin, driven by inputs of dtype on device."""
    t, n = 5, 3
    zeros = torch.zeros(t, n, dtype=dtype, device=device)
    return [
        ("MSS", lambda: MSS(MSS.Params()).simulate(zeros + 0.5, 1e-6, x0=0.2), {"x": (t + 1, n), "i": (t + 1, n)}),
        ("MSS stochastic", lambda: MSS(MSS.Params()).simulate(zeros + 0.5, 1e-6, stochastic=True),
         {"x": (t + 1, n), "i": (t + 1, n)}),
        ("MIF", lambda: MIF(MIF.Params()).simulate(zeros + 1e-6, 1e-6), dict.fromkeys(("v", "x1", "x2"), (t + 1, n))),
        ("MIF euler", lambda: MIF(MIF.Params()).simulate(zeros + 1e-6, 1e-7, integrator="euler"),
         dict.fromkeys(("v", "x1", "x2"), (t + 1, n))),
        ("AlphaCurrent", lambda: AlphaCurrent(AlphaCurrent.Params()).simulate(zeros + 1, 1e-5),
         {"s": (t + 1, n), "i": (t + 1, n)}),
        ("PCMArray", lambda: PCMArray(shape=(n,), dtype=dtype, device=device).simulate(
            torch.ones(t, n, device=device), 1.0, rst=torch.zeros(t, n, device=device)),
         dict.fromkeys(("g_us", "n", "t_p", "g_read_us"), (t + 1, n))),
    ]


#: traces kept in float64 whatever the working dtype (PCM pulse counts and times)
_FLOAT64_ALWAYS = {"n", "t_p"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_twins_simulate_in_the_inputs_dtype_and_device(dtype, device):
    for name, run, shapes in _twin_runs(dtype, device):
        out = run()
        assert set(out) == set(shapes), name
        for key, value in out.items():
            want = torch.float64 if key in _FLOAT64_ALWAYS else dtype
            assert (tuple(value.shape), value.dtype, value.device.type) == (shapes[key], want, device), (name, key)
            assert torch.isfinite(value).all(), (name, key)


@pytest.mark.parametrize("dtype", DTYPES)
def test_twins_simulate_meta_tensors_to_meta_traces_of_the_right_shape(dtype):
    for name, run, shapes in _twin_runs(dtype, "meta"):
        out = run()
        assert {k: tuple(v.shape) for k, v in out.items()} == shapes, name
        assert all(v.device.type == "meta" for v in out.values()), name
        assert all(v.dtype == (torch.float64 if k in _FLOAT64_ALWAYS else dtype) for k, v in out.items()), name
    x0 = torch.empty(3, device="meta", dtype=dtype)  # a meta initial state: no value check possible
    assert MSS(MSS.Params()).simulate(torch.empty(4, 3, device="meta", dtype=dtype), 1e-6, x0=x0)["x"].shape == (5, 3)


def test_value_checks_still_apply_to_real_tensors():
    with pytest.raises(ValueError, match="non-finite"):
        MSS(MSS.Params()).simulate(torch.tensor([0.1, float("nan")]), 1e-6)
    with pytest.raises(ValueError, match="outside"):
        MSS(MSS.Params()).simulate(torch.zeros(2, 2), 1e-6, x0=torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="non-finite"):
        MIF(MIF.Params()).simulate(torch.tensor([float("inf")]), 1e-6)
    with pytest.warns(RuntimeWarning, match="stability bound"):
        MIF(MIF.Params()).simulate(torch.full((20,), 1e-5, dtype=torch.float64), 1e-4, integrator="euler")
