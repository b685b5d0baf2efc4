"""Reader for the standard CIFAR-10 python batches (``cifar-10-batches-py``) and its download.

The archive holds ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``: pickled dicts with
``b"data"`` (``10000 x 3072`` uint8, channel-major 32x32 RGB) and ``b"labels"``. Batches are
read with a restricted unpickler that only rebuilds dicts, lists, bytes and numpy arrays, so a
file from elsewhere cannot run code; missing, truncated or corrupt files raise
:class:`DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DataError",
    "download_cifar10",
    "read_cifar10",
    "write_batch",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = ("test_batch",)


class DataError(ValueError):
    """A data file is missing, truncated, corrupt or not in the expected format."""


class _SafeUnpickler(pickle.Unpickler):
    _ALLOWED: ClassVar[frozenset] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("builtins", "bytes"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _find_folder(data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise DataError(
            "cifar10 needs --data-dir (the folder holding 'cifar-10-batches-py', "
            "or that folder itself); add --download to fetch the archive there"
        )
    root = Path(data_dir)
    return root / FOLDER if (root / FOLDER).is_dir() else root


def read_batch(path: Path) -> tuple[Tensor, Tensor]:
    """One batch file as ``(images (N, 3, 32, 32) uint8, labels (N,) int64)``."""
    if not path.is_file():
        raise DataError(
            f"CIFAR-10 batch file not found: {path} (expected the '{FOLDER}' folder of "
            f"{CIFAR10_URL}; pass --download to fetch it)"
        )
    try:
        with path.open("rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
    except Exception as err:  # any unpickling failure means the file is unusable
        raise DataError(
            f"CIFAR-10 batch {path} is corrupt or truncated ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"CIFAR-10 batch {path} is not a dict with b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        got = getattr(data, "shape", type(data).__name__)
        raise DataError(f"CIFAR-10 batch {path}: data must be uint8 of shape (N, 3072), got {got}")
    labels = np.asarray(labels)
    if labels.shape != (len(data),) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(
            f"CIFAR-10 batch {path}: expected {len(data)} labels in 0..9, got shape {labels.shape}"
        )
    x = torch.from_numpy(data.copy()).view(-1, 3, 32, 32)
    return x, torch.from_numpy(labels.astype(np.int64))


def read_cifar10(
    data_dir: str | Path | None, download: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train, y_train, x_test, y_test)`` from the batches under ``data_dir``."""
    if download:
        if data_dir is None:
            raise DataError("--download needs --data-dir: the folder to put CIFAR-10 in")
        if not (Path(data_dir) / FOLDER / TEST[0]).is_file():
            download_cifar10(data_dir)
    folder = _find_folder(data_dir)
    train = [read_batch(folder / name) for name in TRAIN]
    test = [read_batch(folder / name) for name in TEST]
    return (
        torch.cat([x for x, _ in train]),
        torch.cat([y for _, y in train]),
        torch.cat([x for x, _ in test]),
        torch.cat([y for _, y in test]),
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_cifar10(data_dir: str | Path, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5) -> Path:
    """Fetch the archive at ``url`` into ``data_dir``, check its ``md5`` and extract it.

    Returns the ``cifar-10-batches-py`` folder. A checksum mismatch or an archive member that
    would land outside ``data_dir`` is a :class:`DataError`; nothing is extracted then. The
    archive is extracted into a temporary folder in ``data_dir`` whose contents are then
    renamed into place (replacing an existing, incomplete ``cifar-10-batches-py``), so an
    interrupted extraction never leaves a truncated batch where a reader would look.
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cifar10-", suffix=".tar.gz", dir=root)
    tmp_path = Path(tmp)
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-extract-", dir=root))
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:
            shutil.copyfileobj(response, out)
        got = _md5(tmp_path)
        if got != md5:
            raise DataError(
                f"download from {url} has md5 {got}, expected {md5}: the file is "
                "corrupt or incomplete; try again"
            )
        try:
            with tarfile.open(tmp_path, "r:gz") as tar:
                members = tar.getmembers()
                for m in members:
                    target = (root / m.name).resolve()
                    if not (m.isfile() or m.isdir()) or root.resolve() not in target.parents:
                        raise DataError(
                            f"archive member {m.name!r} is not a plain file inside "
                            f"{root}; refusing to extract"
                        )
                for m in members:
                    if m.isfile():
                        dest = staging / m.name
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        src = tar.extractfile(m)
                        with dest.open("wb") as fh:
                            shutil.copyfileobj(src, fh)
            for entry in list(staging.iterdir()):
                target = root / entry.name
                if target.exists():  # move the old one aside; it goes with the staging folder
                    os.replace(target, staging / f".old-{entry.name}")
                os.replace(entry, target)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise DataError(f"archive from {url} cannot be extracted: {err}") from None
    finally:
        tmp_path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return root / FOLDER


def write_batch(path: str | Path, images: np.ndarray, labels: list[int]) -> None:
    """Write a batch in the standard format (used to build small test archives)."""
    with Path(path).open("wb") as fh:
        pickle.dump(
            {
                b"data": images.reshape(len(images), -1).astype(np.uint8),
                b"labels": list(labels),
                b"batch_label": b"odenets",
            },
            fh,
            protocol=2,
        )
