"""Atomic file writes: a reader never sees half a report, plot or checkpoint."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any


def check_output_path(path: str | Path) -> Path:
    """``path`` as a file to write: not empty, not a folder, no file where a folder must be.
    Raises :class:`~spicegrad.errors.InputError` naming the path and the problem."""
    from .errors import InputError

    if str(path).strip() == "":
        raise InputError("output path '': give a file name")
    if str(path) == "-":
        raise InputError("output '-': writing to standard output is not supported; give a file name")
    if str(path).endswith(("/", "\\")):
        raise InputError(f"output {path}: ends with a path separator; give a file name")
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"output {path}: is a folder; give a file name (e.g. {path / 'out'}{path.suffix or ''})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"output {path}: {parent} is a file, not a folder")
            break
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        from .errors import InputError

        raise InputError(f"output {path}: cannot write in {path.parent} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_savefig(fig, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (format from the suffix)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def load_npy(path: str | Path, what: str, expected: str = "a numeric array") -> Any:
    """One plain ``.npy`` array from ``path`` for the option or field ``what`` (e.g. "--weights"),
    never unpickling: a missing file, another format (text, an .npz archive) or an object array
    is an :class:`~spicegrad.errors.InputError` naming the file and what was expected."""
    import numpy as np

    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path}: no such file (expected a .npy file holding {expected})")
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:4] == b"PK\x03\x04":
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
        except (ValueError, OSError, EOFError):
            names = ["?"]
        raise InputError(f"{what} {path}: an .npz archive holding {len(names)} array(s) {names}; "
                         f"give one .npy file holding {expected}")
    if head != b"\x93NUMPY":
        raise InputError(f"{what} {path}: not a .npy file (no NumPy header; numpy.save writes one), "
                         f"expected {expected}")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(f"{what} {path}: holds Python objects, which are never loaded; "
                             f"expected {expected}") from None
        raise InputError(f"{what} {path}: a damaged .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{what} {path}: a damaged .npy file ({type(exc).__name__}: {exc})") from None


def save_tensors(path: str | Path, obj: Any) -> Path:
    """``torch.save(obj)`` written atomically (a reader never sees half a checkpoint); read it
    back with :func:`load_tensors`."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_tensors(path: str | Path, map_location: Any = "cpu") -> Any:
    """Read a ``torch.save`` file without running code from it: ``weights_only=True`` admits
    tensors and plain containers (dict, list, tuple, str, numbers, None) only, so a pickle that
    would call a function is refused. Raises :class:`~spicegrad.errors.InputError` naming the
    file and what is wrong."""
    import pickle

    import torch

    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch < 2.4 says "Unsupported class", later "Unsupported global"
        blocked = re.search(r"(?:unsupported GLOBAL|Unsupported global:?|Unsupported class)\s+(?:GLOBAL\s+)?([\w.]+)", str(exc), re.I)
        if blocked:
            raise InputError(f"{path}: refused: it asks to call {blocked.group(1)} while loading (a pickle that "
                             "runs code); checkpoints hold tensors and plain data only") from None
        raise InputError(f"{path}: not a readable checkpoint (damaged, or not written by torch.save)") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file in any of torch's ways
        raise InputError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None


def require_finite_tensors(obj: Any, where: str) -> None:
    """Raise :class:`~spicegrad.errors.InputError` naming the first non-finite tensor in ``obj``
    (nested dicts/lists/tuples)."""
    import torch

    from .errors import InputError

    stack = [(where, obj)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, torch.Tensor):
            stored = value.untyped_storage().nbytes() // max(value.element_size(), 1)
            if value.numel() > stored:
                raise InputError(f"{name}: a tensor of shape {tuple(value.shape)} over {stored} stored values "
                                 "(an expanded view): not a saved state")
            if value.is_complex():
                raise InputError(f"{name}: complex values (dtype {value.dtype}); states and weights are real")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                raise InputError(f"{name}: {bad} non-finite value(s) (NaN or inf) in a tensor of shape "
                                 f"{tuple(value.shape)}: the file is damaged")
        elif isinstance(value, dict):
            stack += [(f"{name}.{k}", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
