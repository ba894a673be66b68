"""Pulse programming of any registered cell (spicegrad.devices.pulses): polarity and limits from
the kind's switching thresholds, the pulse response from its own step."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spicegrad.devices import registry
from spicegrad.devices.mss import MSSParams, mss_rates
from spicegrad.devices.pulses import (
    OVERDRIVE,
    check_pulsable,
    fill_time,
    low_state,
    potentiating_voltage,
    pulse_response,
    read_limit,
)
from spicegrad.errors import InputError

MSS = registry.get("mss")


def _held(x, v, duration, p):
    """The exact MSS state after ``v`` held for ``duration`` (the ODE is linear in x then)."""
    p_on, p_off, b = mss_rates(torch.tensor(v, dtype=torch.float64), p)
    x_inf = p_on / (p_on + p_off)
    return x_inf + (x - x_inf) * torch.exp(-b * duration)


def test_mss_pulse_response_is_the_exact_solution_pulse_by_pulse():
    p = MSSParams()
    x = pulse_response(MSS, p, 0.4, 5e-6, 50, dt=1e-6, gap=5e-6)  # exp-euler: exact for held voltages
    assert x.shape == (51,) and float(x[0]) == 0.0
    expected = [torch.zeros((), dtype=torch.float64)]
    for _ in range(50):
        expected.append(_held(_held(expected[-1], 0.4, 5e-6, p), 0.0, 5e-6, p))
    np.testing.assert_allclose(x.numpy(), torch.stack(expected).numpy(), rtol=0, atol=1e-14)
    assert 0.9 < float(x[-1]) < 0.93  # 50 pulses of 5 µs ≈ 2.5 tau


def test_mss_polarity_limits_and_fill_time():
    p = MSSParams()
    assert potentiating_voltage(MSS, p) == pytest.approx(OVERDRIVE * p.v_on)
    assert potentiating_voltage(MSS, p, 0.4) == 0.4
    assert read_limit(MSS, p) == min(p.v_on, p.v_off)
    # at 0.4 V, P_on ≈ 1 and P_off ≈ 0: x(t) = 1 - e^{-t/tau}, G reaches 95 % of its range at tau·ln 20
    assert fill_time(MSS, p, 0.4) == pytest.approx(p.tau * math.log(20), rel=2e-2)


def test_a_negative_threshold_device_pulses_negative():
    flipped = dataclasses.replace(MSS, name="flipped", switching=lambda p: (-p.v_off, p.v_on))
    assert potentiating_voltage(flipped, MSSParams(), 0.5) == -0.5
    assert potentiating_voltage(flipped, MSSParams()) == pytest.approx(-OVERDRIVE * 0.27)


@pytest.mark.parametrize("amplitude", [0.27, 0.1, -0.4, float("nan")])
def test_amplitudes_that_do_not_program_are_refused_by_name(amplitude):
    with pytest.raises(ValueError, match="amplitude"):
        potentiating_voltage(MSS, MSSParams(), amplitude)


def test_width_off_the_dt_grid_and_unpulsable_kinds_are_refused():
    with pytest.raises(InputError, match="width = 2.5e-06 s: must be a whole number of dt"):
        pulse_response(MSS, MSSParams(), 0.4, 2.5e-6, 3, dt=1e-6)
    with pytest.raises(InputError, match="missing: switching"):
        check_pulsable(dataclasses.replace(MSS, name="bare", switching=None))
    with pytest.raises(InputError, match="role 'cell'"):
        check_pulsable(registry.get("mif"))
    stuck = dataclasses.replace(MSS, name="stuck", step=lambda v, x, p, dt, integrator: x)
    with pytest.raises(InputError, match="does not move the state"):
        fill_time(stuck, MSSParams(), 0.4)


def test_low_state_is_the_g_min_state():
    assert float(low_state(MSS, MSSParams(r_on=100.0, r_off=1000.0))) == pytest.approx(0.0, abs=1e-15)
    assert low_state(MSS, MSSParams()).dtype == torch.float64
