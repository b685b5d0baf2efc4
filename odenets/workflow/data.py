"""Datasets for the training workflow, held in memory as tensors.

Three are built in: ``digits`` (scikit-learn's bundled 8x8 digits, the embedded default),
``mnist1d`` (the procedural 1-D sequences of the ``mnist1d`` package, for ``dims=1`` models)
and ``cifar10`` (the standard ``cifar-10-batches-py`` pickle batches, see
:mod:`odenets.workflow.cifar`).
Augmentation is tensor ops whose random parameters are drawn per sample and per epoch from a
seeded generator, so a sample's augmentation does not depend on batching, resumption or the
number of processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validate import check_choice, check_int

__all__ = ["DATASETS", "Dataset", "RandomCropFlip", "list_datasets", "load_dataset"]


class RandomCropFlip:
    """Random crop after zero padding by ``pad`` pixels, and optional horizontal flip.

    Works on ``(N, C, L)`` sequences (a random shift) and ``(N, C, H, W)`` images. Parameters
    are drawn by :meth:`draw` (one row per sample) and applied by :meth:`apply`.
    """

    def __init__(self, pad: int = 4, flip: bool = True) -> None:
        self.pad = check_int("pad", pad, 0)
        self.flip = bool(flip)

    def draw(self, n: int, spatial: int, generator: torch.Generator) -> Tensor:
        """Integer parameters ``(n, spatial + 1)``: crop offsets per axis, then the flip bit."""
        offsets = torch.randint(0, 2 * self.pad + 1, (n, spatial), generator=generator)
        flips = (
            torch.randint(0, 2, (n, 1), generator=generator)
            if self.flip
            else torch.zeros(n, 1, dtype=torch.long)
        )
        return torch.cat([offsets, flips], 1)

    def apply(self, x: Tensor, params: Tensor) -> Tensor:
        """Crop (and flip) the batch ``x`` with per-sample ``params`` from :meth:`draw`."""
        n, spatial = x.shape[0], x.ndim - 2
        if self.pad:
            x = F.pad(x, (self.pad,) * (2 * spatial))
            size = [s - 2 * self.pad for s in x.shape[2:]]
            batch = torch.arange(n, device=x.device)
            chan = torch.arange(x.shape[1], device=x.device)
            params = params.to(x.device)
            if spatial == 1:
                cols = params[:, 0, None] + torch.arange(size[0], device=x.device)
                x = x[batch[:, None, None], chan[None, :, None], cols[:, None, :]]
            else:
                rows = params[:, 0, None] + torch.arange(size[0], device=x.device)
                cols = params[:, 1, None] + torch.arange(size[1], device=x.device)
                x = x[
                    batch[:, None, None, None],
                    chan[None, :, None, None],
                    rows[:, None, :, None],
                    cols[:, None, None, :],
                ]
        if self.flip:
            flip = params[:, -1].bool().to(x.device)
            x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
        return x

    def __repr__(self) -> str:
        return f"RandomCropFlip(pad={self.pad}, flip={self.flip})"


@dataclass(frozen=True)
class Dataset:
    """A classification dataset in memory.

    ``x_*`` hold the raw inputs ``(N, C, *spatial)`` (uint8 or float); :meth:`prepare` turns a
    batch into normalized float32: ``(x * scale - mean) / std`` per channel, then augmentation.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 1.0
    augment: RandomCropFlip | None = None

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def dims(self) -> int:
        """Spatial dimensions of an input: 1 for sequences, 2 for images."""
        return self.x_train.ndim - 2

    def model_kwargs(self) -> dict:
        """The :class:`~odenets.SolverNet` arguments this data fixes."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "dims": self.dims}

    def prepare(self, x: Tensor, augment: Tensor | None = None) -> Tensor:
        """Normalize a raw batch ``(batch, channels, *spatial)`` with the dataset's per-channel
        statistics; apply the augmentation with parameters ``augment`` if given."""
        if not isinstance(x, Tensor):
            raise TypeError(
                f"Dataset.prepare takes a tensor batch, got {type(x).__name__}; convert it with "
                "torch.as_tensor"
            )
        if x.ndim != self.dims + 2 or x.shape[1] != len(self.mean):
            layout = "(batch, channels, length)" if self.dims == 1 else "(batch, channels, H, W)"
            raise ValueError(
                f"dataset {self.name!r} normalises batches {layout} with {len(self.mean)} "
                f"channel(s), got shape {tuple(x.shape)}"
            )
        mean, std = _channel_stats(self.mean, self.std, self.dims, x.device)
        x = (x.float() * self.scale - mean) / std
        if augment is not None and self.augment is not None:
            x = self.augment.apply(x, augment)
        return x

    def draw_augmentation(self, generator: torch.Generator) -> Tensor | None:
        """Augmentation parameters for every training sample (``None`` without augmentation)."""
        if self.augment is None:
            return None
        return self.augment.draw(len(self.y_train), self.dims, generator)


@lru_cache(maxsize=16)
def _channel_stats(
    mean: tuple[float, ...], std: tuple[float, ...], dims: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """``mean`` and ``std`` as broadcastable tensors on ``device`` (built once, not per batch)."""
    shape = (1, -1) + (1,) * dims
    return (
        torch.tensor(mean, device=device).view(shape),
        torch.tensor(std, device=device).view(shape),
    )


def _stats(x: Tensor, scale: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    dims = [0, *range(2, x.ndim)]
    xf = x.double() * scale
    return tuple(xf.mean(dims).tolist()), tuple(xf.std(dims).tolist())


def _require(module: str, package: str, extra: str, what: str):
    """Import ``module`` or raise an ImportError naming the pip ``package`` that provides it
    and the odenets extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs the {package!r} package, which is not installed; install it with "
            f'`pip install {package}` (or `pip install -e ".[{extra}]"` in an odenets checkout)'
        ) from None


def _digits_split(seed: int, test_fraction: float) -> dict[str, Tensor]:
    """The digits (pixel values 0..16 as uint8), labels and scikit-learn's stratified split."""
    datasets = _require("sklearn.datasets", "scikit-learn", "examples", "the digits dataset")
    selection = _require(
        "sklearn.model_selection", "scikit-learn", "examples", "the digits dataset"
    )
    bunch = datasets.load_digits()
    train, test = selection.train_test_split(
        list(range(len(bunch.target))),
        test_size=test_fraction,
        random_state=seed,
        stratify=bunch.target,
    )
    return {
        "x": torch.tensor(bunch.data, dtype=torch.uint8).reshape(-1, 1, 8, 8),
        "y": torch.tensor(bunch.target, dtype=torch.long),
        "train": torch.tensor(sorted(train), dtype=torch.long),
        "test": torch.tensor(sorted(test), dtype=torch.long),
    }


def _valid_digits(t: dict[str, Tensor]) -> bool:
    n = len(t.get("x", ()))
    return (
        set(t) == {"x", "y", "train", "test"}
        and t["x"].dtype == torch.uint8
        and t["x"].shape[1:] == (1, 8, 8)
        and t["y"].dtype == torch.long
        and t["y"].shape == (n,)
        and int(t["y"].min()) >= 0
        and int(t["y"].max()) <= 9
        and all(i.dtype == torch.long and i.ndim == 1 for i in (t["train"], t["test"]))
        and len(t["train"]) + len(t["test"]) == n
        and bool((torch.cat([t["train"], t["test"]]).sort().values == torch.arange(n)).all())
    )


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images), a stratified train/test split fixed by
    ``seed``; random 1-pixel shifts as augmentation. The split is cached on disk (see
    :mod:`odenets.workflow.data_cache`): a new process reads it without importing
    scikit-learn."""
    from importlib.metadata import PackageNotFoundError, version

    from .data_cache import cached_tensors

    def build() -> dict[str, Tensor]:
        return _digits_split(seed, test_fraction)

    try:
        key = f"digits-sklearn{version('scikit-learn')}-seed{seed}-test{test_fraction!r}"
    except PackageNotFoundError:  # not installed: build() says how to install it
        split = build()
    else:
        split = cached_tensors(key, build, _valid_digits)
    x, y = split["x"].float(), split["y"]
    train, test = split["train"], split["test"]
    mean, std = _stats(x[train], 1 / 16)
    return Dataset(
        "digits",
        x[train],
        y[train],
        x[test],
        y[test],
        10,
        mean,
        std,
        1 / 16,
        RandomCropFlip(pad=1, flip=False),
    )


def load_mnist1d(seed: int = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020): 40-sample 1-D digit templates, procedurally generated by the
    ``mnist1d`` package with its default arguments (4000 train / 1000 test; ``seed=42`` is the
    published dataset). Inputs ``(N, 1, 40)`` for ``dims=1`` models."""
    data = _require("mnist1d.data", "mnist1d", "mnist1d", "the mnist1d dataset")
    args = data.get_dataset_args()
    args.seed = seed
    d = data.make_dataset(args)
    x = torch.tensor(d["x"], dtype=torch.float32).unsqueeze(1)
    xt = torch.tensor(d["x_test"], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d["y"], dtype=torch.long)
    yt = torch.tensor(d["y_test"], dtype=torch.long)
    mean, std = _stats(x, 1.0)
    return Dataset("mnist1d", x, y, xt, yt, 10, mean, std, 1.0, None)


def load_cifar10(data_dir: str | Path | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 from the standard ``cifar-10-batches-py`` batches under ``data_dir``
    (``download=True`` fetches and md5-checks the official archive first); 4-pixel padded
    random crops and horizontal flips, per-channel normalization."""
    from .cifar import read_cifar10

    x, y, xt, yt = read_cifar10(data_dir, download=download)
    mean, std = _stats(x, 1 / 255)
    return Dataset("cifar10", x, y, xt, yt, 10, mean, std, 1 / 255, RandomCropFlip(4, True))


#: name -> (loader, one-line description); :func:`load_dataset` calls
#: ``loader(seed=..., data_dir=..., download=...)``, each loader takes what it needs.
DATASETS: dict[str, tuple[Callable[..., Dataset], str]] = {
    "digits": (
        lambda *, seed, **_: load_digits(seed),
        "scikit-learn's bundled 8x8 digits (embedded default)",
    ),
    "mnist1d": (
        lambda **_: load_mnist1d(),  # seed 42: the published dataset
        "MNIST-1D sequences of length 40 (the mnist1d package)",
    ),
    "cifar10": (
        lambda *, data_dir, download, **_: load_cifar10(data_dir, download),
        "CIFAR-10 python batches from --data-dir (or --download)",
    ),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(DATASETS)


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    augment: bool = True,
) -> Dataset:
    """Load dataset ``name``: ``seed`` fixes the digits split; ``data_dir`` / ``download`` are
    for CIFAR-10; ``augment=False`` drops the training augmentation."""
    check_choice("dataset", name, DATASETS)
    check_int("seed", seed, 0)
    ds = DATASETS[name][0](seed=seed, data_dir=data_dir, download=download)
    return ds if augment else replace(ds, augment=None)
