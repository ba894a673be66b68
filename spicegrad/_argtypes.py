"""argparse types shared by the command-line modules: comma-separated number lists, read scales."""

from __future__ import annotations

import argparse
import math


def comma_floats(text: str) -> tuple[float, ...]:
    """``"0.5,1"`` -> (0.5, 1.0); an empty string gives ()."""
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers, e.g. 0,0.5,0.9") from exc


def comma_ints(text: str) -> tuple[int, ...]:
    """``"100,50"`` -> (100, 50): at least one integer, every one >= 1."""
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 100 or 200,100") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one integer, every one >= 1")
    return values


def seed_list(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> (0, 1, 2): at least one seed, each an integer >= 0, none twice."""
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated seeds, e.g. 0,1,2") from exc
    if not values or min(values) < 0 or max(values) > 2**31 - 1 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct integer seeds from 0 to 2147483647, e.g. 0,1,2")
    return values


def conductance_range(text: str) -> tuple[float, float]:
    """``"1e-6:1e-4"`` -> (1e-6, 1e-4): two finite conductances 0 < LO < HI (S)."""
    lo, sep, hi = text.partition(":")
    try:
        values = (float(lo), float(hi)) if sep else None
    except ValueError:
        values = None
    if values is None or not all(math.isfinite(v) for v in values) or not 0 < values[0] < values[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LO:HI, two conductances in S with 0 < LO < HI, "
                                         "e.g. 1e-6:1e-4")
    return values


def read_scale(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'auto' or a number in (0, 1]") from exc
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the read scale must lie in (0, 1]")
    return value


def torch_device(text: str) -> str:
    """``--device``: a torch device that exists here (``cpu``; ``cuda``/``cuda:N`` when this torch
    build sees a GPU). ``meta`` holds no data, so it cannot train."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: not a torch device (use cpu or cuda)") from exc
    if device.type == "meta":
        raise argparse.ArgumentTypeError(f"{text!r}: meta tensors hold no data; train on cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: this torch build sees no CUDA GPU (torch {torch.__version__}); "
                                             "use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"{text!r}: spicegrad trains on cpu or cuda")
    return text


def comma_names(text: str) -> tuple[str, ...]:
    """``"v_on1,v2"`` -> ("v_on1", "v2"); an empty string gives () (names are checked where they are used)."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def name_range(text: str) -> tuple[str, float, float]:
    """``"v_on1=0.05:0.3"`` -> ("v_on1", 0.05, 0.3): a name and a closed range of numbers."""
    name, sep, rest = text.partition("=")
    lo, colon, hi = rest.partition(":")
    try:
        if not (sep and colon and name.strip()):
            raise ValueError
        return name.strip(), float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=LO:HI, e.g. v_on1=0.05:0.3") from None


def positive_seconds(text: str) -> float:
    """A time in seconds, finite and > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a time in seconds, e.g. 1e-5") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: a time step must be a finite number of seconds > 0")
    return value
