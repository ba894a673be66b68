"""Waveform error metrics: amplitude errors for every trace, timing errors for spiking ones."""

from __future__ import annotations

import numpy as np

from ..compare.mif import spike_times


def waveform_errors(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """max |Δ|, RMS of Δ, and NRMSE (RMS of Δ over the reference's peak-to-peak range).

    A non-finite value anywhere makes every metric infinite: a diverged trace must never
    look like a small error.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(other, dtype=float)
    if not np.all(np.isfinite(b)) or not np.all(np.isfinite(a)):
        return {"max_abs": float("inf"), "rms": float("inf"), "nrmse": float("inf")}
    d = b - a
    rms = float(np.sqrt(np.mean(d * d)))
    span = float(np.ptp(a)) or 1.0
    return {"max_abs": float(np.max(np.abs(d))), "rms": rms, "nrmse": rms / span}


def spike_errors(t: np.ndarray, reference: np.ndarray, other: np.ndarray, threshold: float) -> dict[str, float]:
    """Spike-count difference, worst spike-time error (spikes paired in order), and the error
    of the highest peak's amplitude and time."""
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    if not np.all(np.isfinite(b)):
        return {k: float("inf") for k in ("spike_count", "spike_time", "peak_amplitude", "peak_time")}
    ta, tb = spike_times(t, a, threshold), spike_times(t, b, threshold)
    n = min(len(ta), len(tb))
    return {
        "spike_count": float(abs(len(ta) - len(tb))),
        "spike_time": float(np.max(np.abs(ta[:n] - tb[:n]))) if n else 0.0,
        "peak_amplitude": float(abs(a.max() - b.max())),
        "peak_time": float(abs(t[np.argmax(a)] - t[np.argmax(b)])),
    }


def ensemble_stats(samples: np.ndarray) -> dict[str, np.ndarray | int]:
    """Per-time mean, std (ddof 1) and kurtosis of an ensemble shaped [time, member]."""
    a = np.asarray(samples, dtype=float)
    mean = a.mean(axis=1)
    centred = a - mean[:, None]
    m2 = np.mean(centred**2, axis=1)
    m4 = np.mean(centred**4, axis=1)
    kurtosis = np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2, 3.0)
    return {"mean": mean, "std": a.std(axis=1, ddof=1), "kurtosis": kurtosis, "n": a.shape[1]}


def ensemble_errors(ref: dict, other: dict) -> dict[str, float]:
    """Largest |Δmean| and |Δstd| in units of their combined standard errors (≤ 3 is agreement
    within 3 standard errors). SE(mean) = σ/√n; SE(std) = σ·√((κ − 1)/(4n)) with κ the sample
    kurtosis, which is σ/√(2n) for a normal ensemble and stays honest for skewed ones."""
    eps = 1e-15

    def var_std(s):
        return s["std"] ** 2 * np.maximum(s["kurtosis"] - 1.0, 0.0) / (4 * s["n"])

    se_mean = np.sqrt(ref["std"] ** 2 / ref["n"] + other["std"] ** 2 / other["n"]) + eps
    se_std = np.sqrt(var_std(ref) + var_std(other)) + eps
    return {
        "mean_z": float(np.max(np.abs(other["mean"] - ref["mean"]) / se_mean)),
        "std_z": float(np.max(np.abs(other["std"] - ref["std"]) / se_std)),
        "mean_max_abs": float(np.max(np.abs(other["mean"] - ref["mean"]))),
        "std_max_abs": float(np.max(np.abs(other["std"] - ref["std"]))),
    }
