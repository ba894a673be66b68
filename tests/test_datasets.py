"""IDX reading, dataset lookup, subsets, downsampling and the errors people see."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from spicegrad.datasets import (
    DatasetError,
    find_dataset_dir,
    load_dataset,
    parse_idx,
    read_idx,
    write_bars_dataset,
    write_idx,
)

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_fake_dataset(directory: Path, n_train: int = 64, n_test: int = 32, gz: bool = True, seed: int = 0) -> Path:
    """A small IDX dataset whose class is readable from the image (bright row = label)."""
    return write_bars_dataset(directory, n_train, n_test, seed=seed, gz=gz)


def test_idx_writer_matches_the_format_byte_for_byte(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "a-ubyte", arr, gz=False)
    assert raw.read_bytes() == idx_bytes(arr)
    assert gzip.decompress(write_idx(tmp_path / "b-ubyte", arr).read_bytes()) == idx_bytes(arr)


def test_idx_reader_reads_raw_and_gzip_files_identically(tmp_path):
    write_fake_dataset(tmp_path / "raw", gz=False)
    write_fake_dataset(tmp_path / "gz", gz=True)
    a = read_idx(tmp_path / "raw" / "train-images-idx3-ubyte")
    b = read_idx(tmp_path / "gz" / "train-images-idx3-ubyte.gz")
    assert a.shape == (64, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_idx_reader_handles_big_endian_int32_payloads():
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    raw = struct.pack(">HBB", 0, 0x0C, 2) + struct.pack(">2I", 2, 3) + arr.tobytes()
    np.testing.assert_array_equal(parse_idx(raw), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda b: b"\x12\x34" + b[2:], "bad IDX magic"),
        (lambda b: b[:-5], "truncated or corrupt"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b"", "too short"),
    ],
)
def test_corrupt_idx_file_raises_dataset_error_naming_the_file(tmp_path, mutate, words):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(mutate(idx_bytes(np.zeros((4, 28, 28)))))
    with pytest.raises(DatasetError, match=words) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_damaged_gzip_raises_dataset_error(tmp_path):
    d = write_fake_dataset(tmp_path / "fashion-mnist")
    p = d / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DatasetError, match="damaged"):
        load_dataset("fashion-mnist", "train", data=d)


def test_missing_dataset_directory_says_how_to_install_it(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist") as info:
        load_dataset("fashion-mnist", "train", data=tmp_path / "nowhere")
    assert "does not exist" in str(info.value)


def test_dataset_search_uses_spicegrad_data_parent_directory(tmp_path, monkeypatch):
    write_fake_dataset(tmp_path / "fashion-mnist")
    monkeypatch.setenv("SPICEGRAD_DATA", str(tmp_path))
    assert find_dataset_dir("fashion-mnist") == tmp_path / "fashion-mnist"
    # --data beats the environment
    write_fake_dataset(tmp_path / "other")
    assert find_dataset_dir("fashion-mnist", tmp_path / "other") == tmp_path / "other"


def test_subset_and_downsampling_give_exact_block_means(tmp_path):
    d = write_fake_dataset(tmp_path / "fm")
    full = load_dataset("fashion-mnist", "train", data=d)
    small = load_dataset("fashion-mnist", "train", data=d, subset=10, size=14)
    assert small.images.shape == (10, 14, 14) and len(small) == 10
    expected = full.images[:10].reshape(10, 14, 2, 14, 2).mean(dim=(2, 4))
    torch.testing.assert_close(small.images, expected)
    assert torch.equal(small.labels, full.labels[:10])
    assert 0.0 <= float(full.images.min()) and float(full.images.max()) <= 1.0


def test_mismatched_label_count_is_reported(tmp_path):
    d = write_fake_dataset(tmp_path / "fm", gz=False)
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    with pytest.raises(DatasetError, match="do not match"):
        load_dataset("fashion-mnist", "test", data=d)


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(DatasetError, match="fashion-mnist"):
        load_dataset("cifar", "train")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_package_is_found_and_read():
    test = load_dataset("fashion-mnist", "test")
    assert test.images.shape == (10_000, 28, 28)
    assert torch.equal(test.labels.bincount(), torch.full((10,), 1000))


class _FakeResponse:
    def __init__(self, data: bytes):
        import io

        self._buf = io.BytesIO(data)

    def read(self, *a):
        return self._buf.read(*a)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_fetches_checks_and_stores_the_four_files(tmp_path, monkeypatch):
    """No network: urlopen is replaced by a server of a fake MNIST with the release's record counts."""
    import spicegrad.datasets as ds

    src = tmp_path / "src"
    src.mkdir()
    served = {}
    for stem, n in (("train-images-idx3-ubyte", 60_000), ("t10k-images-idx3-ubyte", 10_000)):
        served[stem] = gzip.compress(idx_bytes(np.zeros((n, 2, 2))))
    for stem, n in (("train-labels-idx1-ubyte", 60_000), ("t10k-labels-idx1-ubyte", 10_000)):
        served[stem] = gzip.compress(idx_bytes(np.zeros(n)))
    urls = []

    def fake_urlopen(url, timeout=None):
        urls.append(url)
        return _FakeResponse(served[url.rsplit("/", 1)[1].removesuffix(".gz")])

    monkeypatch.setattr(ds.urllib.request, "urlopen", fake_urlopen)
    dest = ds.download("mnist", tmp_path / "mnist")
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in STEMS)
    assert load_dataset("mnist", "test", data=dest).images.shape == (10_000, 2, 2)
    assert all(u.startswith(ds.DATASETS["mnist"].urls[0]) for u in urls)
    # Fashion-MNIST downloads are checked against the release's SHA-256: this fake one fails.
    with pytest.raises(DatasetError, match="SHA-256"):
        ds.download("fashion-mnist", tmp_path / "fm")
