"""The on-disk cache of the digits split: a hit gives the built split bitwise without building
it, a bad entry is rebuilt, an unwritable or switched-off cache only costs the rebuild."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from odenets.workflow import data
from odenets.workflow.data_cache import cache_dir, cached_tensors

FIELDS = ("x_train", "y_train", "x_test", "y_test")


def _no_build(*args):
    raise AssertionError("the split was rebuilt instead of read from the cache")


def _same(a, b) -> None:
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.mean, a.std) == (b.mean, b.std)


def _entries(folder) -> list:
    return sorted(p.name for p in folder.iterdir())


def test_a_hit_is_the_built_split_bitwise_without_building_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ODENETS_CACHE", str(tmp_path))
    built = data.load_digits(seed=2)
    (entry,) = _entries(tmp_path)
    assert entry.startswith("digits-sklearn") and "seed2-test0.25" in entry
    monkeypatch.setattr(data, "_digits_split", _no_build)
    _same(data.load_digits(seed=2), built)
    with pytest.raises(AssertionError, match="rebuilt"):  # another seed is another entry
        data.load_digits(seed=3)


def test_the_entry_has_the_users_permissions(tmp_path, monkeypatch):
    monkeypatch.setenv("ODENETS_CACHE", str(tmp_path))
    old = os.umask(0o027)
    try:
        data.load_digits(seed=4)
    finally:
        os.umask(old)
    (entry,) = tmp_path.iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:1000]),  # truncated
        lambda path: path.write_bytes(b"not a torch file"),
        lambda path: torch.save({"x": torch.zeros(3)}, path),  # foreign tensors
        lambda path: torch.save([1, 2], path),  # not a dict
        lambda path: torch.save({"x": torch.tensor(1.0)}, path),  # the check cannot even run
        # a split whose indices do not cover the images
        lambda path: torch.save({**torch.load(path), "test": torch.tensor([0])}, path),
    ],
    ids=["truncated", "garbage", "foreign", "list", "scalar", "bad-split"],
)
def test_a_bad_entry_is_rebuilt_and_rewritten(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("ODENETS_CACHE", str(tmp_path))
    built = data.load_digits(seed=0)
    (entry,) = tmp_path.iterdir()
    damage(entry)
    _same(data.load_digits(seed=0), built)  # rebuilt
    monkeypatch.setattr(data, "_digits_split", _no_build)
    _same(data.load_digits(seed=0), built)  # and rewritten: now a hit


@pytest.mark.parametrize("value", ["off", "0", "", "None"])
def test_the_cache_can_be_switched_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("ODENETS_CACHE", value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None
    data.load_digits(seed=0)
    assert _entries(tmp_path) == []


def test_an_unwritable_cache_only_costs_the_rebuild(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ODENETS_CACHE", str(blocker / "cache"))
    first = data.load_digits(seed=0)
    _same(data.load_digits(seed=0), first)
    assert blocker.read_text().startswith("a file")


def test_default_folder_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ODENETS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "odenets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "odenets"
    monkeypatch.setenv("ODENETS_CACHE", "~/elsewhere")
    assert cache_dir() == tmp_path / "elsewhere"


def test_entry_names_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("ODENETS_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"\[A-Za-z0-9_.\+-\]\+, got '../x'"):
        cached_tensors("../x", dict, lambda t: True)
    assert _entries(tmp_path) == []
