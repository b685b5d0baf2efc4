"""Datasets: digits split and normalization, augmentation ops, the CIFAR-10 batch format
(reader, corrupt files, download with md5), mnist1d."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile

import numpy as np
import pytest
import torch

from odenets.workflow.cifar import (
    DataError,
    download_cifar10,
    read_batch,
    read_cifar10,
    write_batch,
)
from odenets.workflow.cli import main
from odenets.workflow.data import RandomCropFlip, load_dataset


def test_digits_split_is_fixed_by_seed_and_stratified():
    a, b, c = (
        load_dataset("digits", seed=0),
        load_dataset("digits", seed=0),
        load_dataset("digits", seed=1),
    )
    assert a.x_train.shape[1:] == (1, 8, 8) and len(a.y_train) + len(a.y_test) == 1797
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_test, c.x_test)
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # stratified 25% of ~180 per class
    x = a.prepare(a.x_train)
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    assert a.model_kwargs() == {"in_channels": 1, "num_classes": 10, "dims": 2}


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="did you mean 'digits'"):
        load_dataset("digit")


@pytest.mark.parametrize("spatial", [1, 2])
def test_crop_is_a_window_of_the_padded_input(spatial):
    aug = RandomCropFlip(pad=2, flip=False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, *([7] * spatial))
    params = aug.draw(6, spatial, g)
    y = aug.apply(x, params)
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2,) * (2 * spatial))
    for i in range(6):
        o = params[i].tolist()
        window = (
            padded[i, :, o[0] : o[0] + 7]
            if spatial == 1
            else padded[i, :, o[0] : o[0] + 7, o[1] : o[1] + 7]
        )
        assert torch.equal(y[i], window)
    centre = torch.full_like(params, 2)
    centre[:, -1] = 0
    assert torch.equal(aug.apply(x, centre), x)


def test_flip_mirrors_exactly_the_flagged_samples():
    aug = RandomCropFlip(pad=0, flip=True)
    x = torch.randn(4, 3, 5, 5)
    params = torch.tensor([[0, 0, 1], [0, 0, 0], [0, 0, 1], [0, 0, 0]])
    y = aug.apply(x, params)
    assert torch.equal(y[0], x[0].flip(-1)) and torch.equal(y[1], x[1])
    assert not torch.equal(y[0], x[0])


def _make_cifar(root, n=8, n_test=6, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, size in [*((f"data_batch_{i}", n) for i in range(1, 6)), ("test_batch", n_test)]:
        write_batch(
            folder / name,
            rng.integers(0, 256, (size, 3, 32, 32)),
            rng.integers(0, 10, size).tolist(),
        )
    return folder


def test_cifar_batches_are_read_in_the_standard_layout(tmp_path):
    folder = _make_cifar(tmp_path)
    x, y, xt, _ = read_cifar10(tmp_path)
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8 and xt.shape[0] == 6
    with (folder / "data_batch_2").open("rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    assert torch.equal(x[8:16].reshape(8, -1), torch.from_numpy(raw[b"data"]))
    assert y[8:16].tolist() == raw[b"labels"]
    ds = load_dataset("cifar10", data_dir=folder)  # the folder itself works too
    assert ds.augment is not None and ds.augment.pad == 4 and ds.augment.flip
    assert ds.prepare(ds.x_train).shape == (40, 3, 32, 32)


def test_missing_truncated_and_hostile_batches_are_named_errors(tmp_path):
    folder = _make_cifar(tmp_path)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3 is corrupt or truncated"):
        read_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="corrupt"):
        read_batch(path)
    path.unlink()
    with pytest.raises(DataError, match=r"not found.*data_batch_3"):
        read_cifar10(tmp_path)
    with pytest.raises(DataError, match="--data-dir"):
        read_cifar10(None)


def test_cli_reports_a_corrupt_batch_in_one_line(tmp_path, capsys):
    folder = _make_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle at all")
    code = main(
        [
            "train",
            "--data",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "test_batch" in err and "Traceback" not in err


def _tarball(tmp_path, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(buf.getvalue())
    return path, hashlib.md5(buf.getvalue()).hexdigest()


def test_download_checks_md5_then_extracts(tmp_path):
    src = _make_cifar(tmp_path / "src")
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in src.iterdir()}
    archive, md5 = _tarball(tmp_path, members)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="md5"):
        download_cifar10(dest, url=archive.as_uri(), md5="0" * 32)
    assert not (dest / "cifar-10-batches-py").exists()
    folder = download_cifar10(dest, url=archive.as_uri(), md5=md5)
    assert folder == dest / "cifar-10-batches-py"
    assert torch.equal(read_cifar10(dest)[0], read_cifar10(tmp_path / "src")[0])
    assert not list(dest.glob(".cifar10-*"))  # the temporary download is gone


def test_download_refuses_members_outside_the_folder(tmp_path):
    archive, md5 = _tarball(tmp_path, {"../escape.txt": b"x"})
    with pytest.raises(DataError, match="refusing"):
        download_cifar10(tmp_path / "dest", url=archive.as_uri(), md5=md5)
    assert not (tmp_path / "escape.txt").exists()


def test_mnist1d_split_and_shape():
    pytest.importorskip("mnist1d")
    ds = load_dataset("mnist1d")
    assert ds.x_train.shape == (4000, 1, 40) and ds.x_test.shape == (1000, 1, 40)
    assert ds.dims == 1 and set(ds.y_train.unique().tolist()) == set(range(10))


def test_missing_optional_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"`pip install mnist1d`"):
        load_dataset("mnist1d")


def test_interrupted_extraction_leaves_nothing_a_later_download_would_trust(tmp_path, monkeypatch):
    import odenets.workflow.cifar as cifar

    src = _make_cifar(tmp_path / "src")
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in sorted(src.iterdir())}
    archive, md5 = _tarball(tmp_path, members)
    dest = tmp_path / "dest"
    copy, calls = cifar.shutil.copyfileobj, []

    def interrupted(src, dst, *args):
        calls.append(1)
        if len(calls) == 3:  # the download, one whole batch, then half of the next one
            dst.write(src.read(100))
            raise KeyboardInterrupt
        return copy(src, dst, *args)

    monkeypatch.setattr(cifar.shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_cifar10(dest, url=archive.as_uri(), md5=md5)
    monkeypatch.undo()
    assert list(dest.iterdir()) == []  # no partial batch folder, no temporary files
    (dest / "cifar-10-batches-py").mkdir()  # an incomplete folder from elsewhere is replaced
    (dest / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"truncated")
    assert download_cifar10(dest, url=archive.as_uri(), md5=md5) == dest / "cifar-10-batches-py"
    assert torch.equal(read_cifar10(dest)[0], read_cifar10(src)[0])
    assert [p.name for p in dest.iterdir()] == ["cifar-10-batches-py"]


def test_load_dataset_uses_the_registry(monkeypatch):
    from odenets.workflow import data

    toy = load_dataset("digits")
    seen = {}

    def load_toy(*, seed, data_dir, download):
        seen.update(seed=seed, data_dir=data_dir, download=download)
        return toy

    monkeypatch.setitem(data.DATASETS, "toy", (load_toy, "a test dataset"))
    ds = load_dataset("toy", seed=3, data_dir="d", augment=False)
    assert seen == {"seed": 3, "data_dir": "d", "download": False}
    assert ds.augment is None and toy.augment is not None and ds.x_train is toy.x_train
