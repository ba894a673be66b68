"""Image datasets for training, read from IDX files: Fashion-MNIST and MNIST, no torchvision.

Where the files are looked for, first match wins:

1. the ``data`` argument (the ``--data DIR`` option),
2. ``$SPICEGRAD_DATA`` (a directory holding the IDX files, or a parent with one sub-directory per
   dataset: ``$SPICEGRAD_DATA/fashion-mnist``, ``$SPICEGRAD_DATA/mnist``),
3. the Debian/Ubuntu package directories ``/usr/share/datasets/<name>`` (``apt-get install
   dataset-fashion-mnist`` installs Fashion-MNIST there),
4. the user cache ``<cache>/datasets/<name>`` where :func:`download` puts them (``<cache>`` is
   ``~/.cache/spicegrad`` unless $SPICEGRAD_CACHE or $XDG_CACHE_HOME say otherwise).

Each split is two files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``, gzip-compressed
(``.gz``) or raw. The IDX format (LeCun): a big-endian magic ``0x0000 TT DD`` (TT = 0x08 for
unsigned bytes, DD = number of dimensions), DD big-endian uint32 sizes, then the data in C order.
Every header field and the data length are checked; a damaged file raises :class:`DatasetError`
naming the file and what is wrong.

Nothing is downloaded unless :func:`download` is called (``spicegrad`` never downloads on its
own); downloaded files are checked against the SHA-256 of their decompressed contents where
known, and always structurally.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

__all__ = [
    "DATASETS",
    "DatasetError",
    "ImageDataset",
    "download",
    "find_dataset_dir",
    "load_dataset",
    "read_idx",
    "write_bars_dataset",
    "write_idx",
]


class DatasetError(InputError, RuntimeError):
    """A dataset is missing, incomplete or damaged; the message says which file and how to fix it."""


@dataclass(frozen=True)
class _Spec:
    name: str
    classes: tuple[str, ...]
    apt_package: str | None
    urls: tuple[str, ...]  # mirrors, each + file name
    sha256: dict[str, str]  # decompressed contents, by file stem


_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DATASETS: dict[str, _Spec] = {
    "fashion-mnist": _Spec(
        "fashion-mnist",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "dataset-fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {  # measured on the Debian package's files (decompressed), identical to Zalando's release
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
    "mnist": _Spec(
        "mnist",
        tuple(str(d) for d in range(10)),
        None,
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {},  # not measured here: downloads are checked structurally only
    ),
}

_SYSTEM_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
_SPLIT_SIZES = {"train": 60_000, "test": 10_000}


def _spec(name: str) -> _Spec:
    if name not in DATASETS:
        raise DatasetError(f"dataset {name!r}: must be one of {', '.join(map(repr, DATASETS))}")
    return DATASETS[name]


def cache_dir() -> Path:
    """``<cache>/datasets`` (the cache folder: :func:`spicegrad.spice.cache_layout.cache_root`)."""
    from .spice.cache_layout import datasets_dir

    return datasets_dir()


def _has_files(directory: Path) -> bool:
    return any((directory / f"{stem}{ext}").is_file() for stem in _FILES["train"] + _FILES["test"] for ext in ("", ".gz"))


def _install_hint(spec: _Spec) -> str:
    ways = []
    if spec.apt_package:
        ways.append(f"`sudo apt-get install {spec.apt_package}` (installs /usr/share/datasets/{spec.name})")
    ways.append(f"`python -c \"from spicegrad.datasets import download; download('{spec.name}')\"` (online)")
    ways.append("or point --data / $SPICEGRAD_DATA at a directory holding the four IDX files "
                f"({', '.join(_FILES['train'] + _FILES['test'])}, gzip or raw)")
    return "; ".join(ways)


def find_dataset_dir(name: str, data: str | Path | None = None) -> Path:
    """The directory holding ``name``'s IDX files (search order in the module docstring)."""
    spec = _spec(name)
    if data is not None:
        d = Path(data).expanduser()
        for cand in (d, d / name):
            if cand.is_dir() and _has_files(cand):
                return cand
        reason = "does not exist" if not d.exists() else "holds no IDX files of this dataset"
        raise DatasetError(f"{name}: data directory {str(d)!r} {reason}. Install it with {_install_hint(spec)}")
    tried = []
    env = os.environ.get("SPICEGRAD_DATA")
    candidates = [Path(env).expanduser(), Path(env).expanduser() / name] if env else []
    candidates += [base / name for base in _SYSTEM_DIRS] + [cache_dir() / name]
    for cand in candidates:
        tried.append(str(cand))
        if cand.is_dir() and _has_files(cand):
            return cand
    raise DatasetError(f"{name} not found (looked in {', '.join(tried)}). Install it with {_install_hint(spec)}")


def _open_bytes(path: Path) -> bytes:
    """File contents, gunzipped when they start with the gzip magic (whatever the suffix)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read it ({exc}); the file is damaged: reinstall or re-download it") from exc


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """An IDX byte string as a numpy array (native byte order), every header field checked."""
    if len(raw) < 4:
        raise DatasetError(f"{source}: {len(raw)} bytes is too short for an IDX header (corrupt file)")
    zero, type_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or type_code not in _IDX_TYPES or not 1 <= ndim <= 4:
        raise DatasetError(
            f"{source}: bad IDX magic {raw[:4].hex()} (expected 0000 then a type code in "
            f"{sorted(hex(t) for t in _IDX_TYPES)} and 1-4 dimensions): not an IDX file or corrupt"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{source}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            f"{source}: IDX header says shape {shape} ({expected} bytes) but the file holds {len(raw)} bytes "
            "(truncated or corrupt): reinstall or re-download it"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw)."""
    path = Path(path)
    return parse_idx(_open_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write ``array`` (unsigned bytes) as an IDX file, gzip-compressed with ``gz`` (``.gz`` is
    appended to the name); returns the path written."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path = Path(path)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(header + array.tobytes()))
    else:
        path.write_bytes(header + array.tobytes())
    return path


def write_bars_dataset(folder: str | Path, n_train: int = 1000, n_test: int = 500, *, seed: int = 0,
                       noise: int = 60, gz: bool = True) -> Path:
    """A synthetic 10-class dataset in the Fashion-MNIST file layout, for trying a workflow
    offline or testing it: 28x28 noise images (uniform 0..``noise`` grey levels) with one bright
    horizontal bar whose height is the class (rows 2+2c and 3+2c). Returns ``folder``."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * noise).astype(np.uint8)
        for k, label in enumerate(labels):
            images[k, 2 + 2 * label:4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gz)
    return folder


def _split_file(directory: Path, stem: str, name: str) -> Path:
    for ext in (".gz", ""):
        p = directory / f"{stem}{ext}"
        if p.is_file():
            return p
    raise DatasetError(f"{name}: {directory} lacks {stem}(.gz). Install it with {_install_hint(_spec(name))}")


@dataclass
class ImageDataset:
    """Images as float32 in [0, 1] shaped [N, H, W] and int64 labels [N]."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.images[0].numel())

    def flat(self) -> torch.Tensor:
        return self.images.reshape(len(self), -1)


def _downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average [N, H, W] to [N, size, size] (exact block means when size divides H)."""
    if size == images.shape[-1]:
        return images
    if size < 1 or size > images.shape[-1]:
        raise DatasetError(f"image size {size}: must lie in [1, {images.shape[-1]}]")
    return torch.nn.functional.adaptive_avg_pool2d(images[:, None], size)[:, 0]


def load_dataset(
    name: str,
    split: str,
    data: str | Path | None = None,
    subset: int | None = None,
    size: int | None = None,
) -> ImageDataset:
    """Load ``split`` ("train" or "test") of ``name``; first ``subset`` samples; images
    area-downsampled to ``size`` x ``size`` pixels (e.g. 14) when given.

    (choice) the subset is the first N samples of the file: both datasets ship shuffled, so
    this is a class-balanced-in-expectation sample that every run picks identically.
    """
    spec = _spec(name)
    if split not in _FILES:
        raise DatasetError(f"split {split!r}: must be 'train' or 'test'")
    if subset is not None and subset < 1:
        raise DatasetError(f"subset = {subset}: must be >= 1")
    directory = find_dataset_dir(name, data)
    img_path, lab_path = (_split_file(directory, stem, name) for stem in _FILES[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{img_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{lab_path}: {labels.shape} labels do not match {images.shape[0]} images in {img_path}")
    if labels.size and int(labels.max()) >= len(spec.classes):
        raise DatasetError(f"{lab_path}: label {int(labels.max())} outside 0..{len(spec.classes) - 1} (corrupt)")
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    if size is not None:
        x = _downsample(x, size)
    return ImageDataset(name, split, x.contiguous(), torch.from_numpy(labels.astype(np.int64)), spec.classes)


def download(name: str, dest: str | Path | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``name``'s four gzip IDX files into ``dest`` (default: the user cache searched by
    :func:`find_dataset_dir`), verify them, and return the directory. Needs network access."""
    spec = _spec(name)
    dest = Path(dest) if dest is not None else cache_dir() / name
    dest.mkdir(parents=True, exist_ok=True)
    for stem in _FILES["train"] + _FILES["test"]:
        target = dest / f"{stem}.gz"
        if target.is_file():
            continue
        errors = []
        for mirror in spec.urls:
            url = f"{mirror}{stem}.gz"
            tmp = target.with_suffix(".gz.part")
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:  # noqa: S310
                    shutil.copyfileobj(resp, fh)
                raw = _open_bytes(tmp)
                arr = parse_idx(raw, url)
                want = spec.sha256.get(stem)
                if want and hashlib.sha256(raw).hexdigest() != want:
                    raise DatasetError(f"{url}: SHA-256 of its contents does not match the release")
                split = "train" if stem.startswith("train") else "test"
                if arr.shape[0] != _SPLIT_SIZES[split]:
                    raise DatasetError(f"{url}: {arr.shape[0]} records, expected {_SPLIT_SIZES[split]}")
                os.replace(tmp, target)
                break
            except (OSError, DatasetError) as exc:
                errors.append(f"{url}: {exc}")
                Path(tmp).unlink(missing_ok=True)
        else:
            raise DatasetError(f"could not download {stem}.gz: " + "; ".join(errors))
    return dest
