"""Faults during training end in one named error with the last completed epoch kept: signals,
a full disk, kills between renames, stale temporary files, a locked or unwritable run folder,
damaged checkpoints, NaN, and implicit solves that do not converge (docs/reliability.md)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train import _config, _same

from odenets.workflow import checkpoint as ckpt_mod
from odenets.workflow import train as train_mod
from odenets.workflow.checkpoint import (
    CheckpointError,
    SaveError,
    load_checkpoint,
    save_checkpoint,
)
from odenets.workflow.cli import main
from odenets.workflow.data import Dataset
from odenets.workflow.run_folder import RunFolderError
from odenets.workflow.run_lock import RunLock, RunLockedError
from odenets.workflow.signals import Interrupted, deferred, stop_on_signals
from odenets.workflow.train import NonFiniteMetricWarning, TrainingDiverged, train

ROOT = Path(__file__).resolve().parents[1]
CLI_TINY = [
    "train", "--model", "lm_resnet20", "--depth", "8", "--widths", "4,8,8",
    "--batch-size", "64", "--lr", "0.05", "--threads", "1",
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The run files of ``folder`` (the lock file is not part of a run's state)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != ".lock"}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _start(out: Path, *extra: str) -> subprocess.Popen:
    """``odenets train`` (many epochs) in a subprocess whose stdout is read line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "odenets", *CLI_TINY, "--epochs", "400", "--out", str(out),
         "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )  # fmt: skip


def _wait_for_epoch(proc: subprocess.Popen, epoch: int = 1) -> None:
    """Block until the run printed the line of ``epoch`` (it is then inside the next one)."""
    for line in proc.stdout:
        if line.startswith(f"epoch {epoch:>3}/"):
            return
    proc.wait(timeout=60)
    pytest.fail(f"the run ended before epoch {epoch}: {proc.stderr.read()[-2000:]}")


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the signalled run did not stop within 120 s")
    return proc.returncode, err


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_during_an_epoch_keeps_the_last_completed_epoch(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_epoch(proc, 1)
    proc.send_signal(signal.SIGTERM)
    rc, err = _finish(proc)
    lines = err.strip().splitlines()
    assert rc == 143, err[-2000:]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "interrupted by SIGTERM during epoch" in lines[0] and "--resume" in lines[0]
    last = load_checkpoint(out / "last.pt")  # checksum verified
    assert f"keeps epoch {last['epoch']}" in lines[0]
    records = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, last["epoch"] + 1))
    load_checkpoint(out / "best.pt")
    assert not list(out.glob(".*.tmp"))
    # the run resumes from its folder alone
    assert main(["train", "--out", str(out), "--resume", "--stop-after", "1", "--no-progress"]) == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == last["epoch"] + 1


def test_a_signal_inside_a_deferred_block_waits_for_its_end():
    before, done = signal.getsignal(signal.SIGTERM), []
    with stop_on_signals():
        with pytest.raises(Interrupted) as err, deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("rest of the block")
        assert done == ["rest of the block"]
        assert err.value.signum == signal.SIGTERM and err.value.exit_code == 143
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**6):  # the handler runs between bytecodes
                pass
    assert signal.getsignal(signal.SIGTERM) == before  # restored


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_in_an_epoch_stops_with_the_previous_epoch_kept(
    small, tmp_path, monkeypatch, capsys, sig, code
):
    epoch_fn = train_mod._train_epoch

    def epoch_then_signal(runner, net, dataset, optimizer, config, epoch, info):
        if epoch == 1:
            os.kill(os.getpid(), sig)
        return epoch_fn(runner, net, dataset, optimizer, config, epoch, info)

    monkeypatch.setattr(train_mod, "_train_epoch", epoch_then_signal)
    name = signal.Signals(sig).name
    with pytest.raises(Interrupted, match=f"{name} during epoch 2;.*keeps epoch 1") as err:
        train(_config(tmp_path, epochs=3), dataset=small)
    assert err.value.exit_code == code
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    # on the command line: one line and the exit status
    out = tmp_path / "cli"
    assert main([*CLI_TINY, "--epochs", "3", "--out", str(out), "--no-progress"]) == code
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"odenets: interrupted by {name} during epoch 2" in err


def test_sigterm_during_a_save_lets_the_save_finish(small, tmp_path, monkeypatch):
    write = ckpt_mod.write_files_atomic

    def term_then_write(files):
        os.kill(os.getpid(), signal.SIGTERM)
        write(files)

    monkeypatch.setattr("odenets.workflow.run_folder.write_files_atomic", term_then_write)
    with pytest.raises(Interrupted, match="keeps epoch 1"):
        train(_config(tmp_path, epochs=3), dataset=small)
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 1 and load_checkpoint(tmp_path / "best.pt")["epoch"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


# --- a full disk -----------------------------------------------------------------------------


class _Full:
    """A file object whose writes (or fsync) fail with ENOSPC, as on a full disk."""

    def __init__(self, fh, at: str) -> None:
        self.fh, self.at = fh, at

    def write(self, data):
        if self.at == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def fileno(self):
        return self.fh.fileno()

    def flush(self):
        return self.fh.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _fill_disk(monkeypatch, target: str, at: str) -> None:
    """From now on, writing a temporary file of ``target`` fails like a full disk."""
    fdopen, fsync = os.fdopen, os.fsync
    doomed = set()

    def fake_fdopen(fd, mode="r", *args, **kw):
        fh = fdopen(fd, mode, *args, **kw)
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""
        if f"/.{target}." in name:
            doomed.add(fd)
            return _Full(fh, at)
        return fh

    def fake_fsync(fd):
        if fd in doomed and at == "fsync":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return fsync(fd)

    monkeypatch.setattr(ckpt_mod.os, "fdopen", fake_fdopen)
    monkeypatch.setattr(ckpt_mod.os, "fsync", fake_fsync)


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="names files by /proc/self/fd")
@pytest.mark.parametrize("at", ["write", "fsync"])
@pytest.mark.parametrize("target", ["last.pt", "best.pt", "metrics.jsonl"])
def test_full_disk_keeps_the_previous_epoch_intact(small, tmp_path, monkeypatch, target, at):
    accuracy = iter([0.1, 0.2, 0.3])  # every epoch improves: best.pt is written every epoch
    evaluate = train_mod.evaluate
    monkeypatch.setattr(
        train_mod,
        "evaluate",
        lambda *a, **k: {**evaluate(*a, **k), "accuracy": next(accuracy)},
    )
    train(_config(tmp_path, epochs=3, stop_after=1), dataset=small)
    before = _snapshot(tmp_path)
    assert set(before) == {"last.pt", "best.pt", "metrics.jsonl"}
    if target == "best.pt":  # best.pt is a hard link to last.pt's bytes where links work

        def no_links(*args):
            raise OSError(errno.EPERM, "no hard links on this file system")

        monkeypatch.setattr(ckpt_mod.os, "link", no_links)
    _fill_disk(monkeypatch, target, at)
    with pytest.raises(SaveError) as err:
        train(_config(tmp_path, epochs=3, resume=True), dataset=small)
    message = str(err.value)
    assert err.value.errno == errno.ENOSPC and "\n" not in message
    assert "could not save epoch 2" in message and "files of epoch 1 are intact" in message
    assert _snapshot(tmp_path) == before  # byte for byte, and no temporary file left
    monkeypatch.undo()
    result = train(_config(tmp_path, epochs=3, resume=True), dataset=small)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="names files by /proc/self/fd")
def test_full_disk_at_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch, capsys):
    _fill_disk(monkeypatch, "last.pt", "write")
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--epochs", "1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "No space left on device" in err and "no checkpoint was written yet" in err
    assert _snapshot(out) == {}


# --- kills between renames, stale temporary files --------------------------------------------


def test_kill_between_last_and_best_is_repaired_on_resume(small, tmp_path, monkeypatch):
    accuracy = iter([0.1, 0.2])
    evaluate = train_mod.evaluate
    monkeypatch.setattr(
        train_mod,
        "evaluate",
        lambda *a, **k: {**evaluate(*a, **k), "accuracy": next(accuracy)},
    )
    train(_config(tmp_path, epochs=2, stop_after=1), dataset=small)

    class Killed(BaseException):
        pass

    replace = os.replace

    def kill_after_last(src, dst):
        replace(src, dst)
        if Path(dst).name == "last.pt":
            raise Killed  # nothing after last.pt is renamed: best.pt and metrics stay at epoch 1

    monkeypatch.setattr(ckpt_mod.os, "replace", kill_after_last)
    with pytest.raises(Killed):
        train(_config(tmp_path, epochs=2, resume=True), dataset=small)
    monkeypatch.setattr(ckpt_mod.os, "replace", replace)
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 2 and last["best_epoch"] == 2
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1  # stale
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1

    train(_config(tmp_path, epochs=2, resume=True), dataset=small)  # nothing to train: repairs
    assert (tmp_path / "best.pt").read_bytes() == (tmp_path / "last.pt").read_bytes()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_stale_temporary_files_are_removed_at_the_next_start(small, tmp_path, capsys):
    train(_config(tmp_path, epochs=2, stop_after=1), dataset=small)
    stale = [".last.pt.k1ll3d.tmp", ".best.pt.x.tmp", ".metrics.jsonl.y.tmp"]
    for name in stale:
        (tmp_path / name).write_bytes(b"half a checkpoint")
    (tmp_path / ".notes.tmp").write_text("not ours")
    train(_config(tmp_path, epochs=2, resume=True), dataset=small)
    assert not any((tmp_path / name).exists() for name in stale)
    assert (tmp_path / ".notes.tmp").exists()
    assert "removed 3 temporary file(s)" in capsys.readouterr().err


# --- the run folder: lock, writability -------------------------------------------------------


def test_a_locked_folder_is_refused_naming_the_holder(small, tmp_path):
    holder = f"in use by another run \\(pid {os.getpid()}"
    with RunLock(tmp_path), pytest.raises(RunLockedError, match=holder):
        train(_config(tmp_path, epochs=1), dataset=small)
    assert not (tmp_path / "last.pt").exists()
    train(_config(tmp_path, epochs=1), dataset=small)  # released: the folder is free again


@pytest.mark.slow
def test_second_run_refused_then_kill_9_then_resume_is_bitwise_exact(tmp_path, capsys):
    out = tmp_path / "run"
    proc = _start(out)  # 400 epochs: it is still running when the second run tries
    try:
        _wait_for_epoch(proc, 1)
        assert main([*CLI_TINY, "--epochs", "1", "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"in use by another run (pid {proc.pid}" in err, err
    finally:
        proc.kill()  # kill -9, wherever it is (maybe in the middle of a save)
        proc.communicate(timeout=60)
    # its lock died with it: a resume from the folder alone takes the folder over
    assert main(["train", "--out", str(out), "--resume", "--stop-after", "1", "--no-progress"]) == 0
    assert f"left by pid {proc.pid}" in capsys.readouterr().err
    b = load_checkpoint(out / "last.pt")
    assert not list(out.glob(".*.tmp"))
    straight = tmp_path / "straight"
    argv = [*CLI_TINY, "--epochs", "400", "--stop-after", str(b["epoch"]), "--no-progress"]
    assert main([*argv, "--out", str(straight)]) == 0
    a = load_checkpoint(straight / "last.pt")
    assert a["epoch"] == b["epoch"] and _same(a["model"], b["model"])
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])


def test_lock_without_flock_takes_over_only_dead_holders(tmp_path, monkeypatch):
    from odenets.workflow import run_lock

    monkeypatch.setattr(run_lock, "fcntl", None)
    with RunLock(tmp_path), pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (tmp_path / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    lock = RunLock(tmp_path).acquire()
    assert lock.previous["pid"] == dead.pid
    lock.release()


def test_unwritable_out_is_found_before_the_first_epoch(small, tmp_path, monkeypatch):
    def no_epoch(*args):
        raise AssertionError("an epoch ran before the folder was checked")

    monkeypatch.setattr(train_mod, "_train_epoch", no_epoch)
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot write to --out"):
        train(_config(tmp_path / "file" / "run"), dataset=small)
    with pytest.raises(RunFolderError, match="is a file"):
        train(_config(tmp_path / "file"), dataset=small)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(OSError, match="cannot write to --out"):
                train(_config(locked), dataset=small)
        finally:
            locked.chmod(0o700)


def test_unwritable_out_on_the_command_line_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"
    assert main([*CLI_TINY, "--epochs", "1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot write to --out" in err and "epoch" not in err


# --- damaged checkpoints ---------------------------------------------------------------------


def _weights_offset(path: Path, pattern: bytes) -> int:
    data = path.read_bytes()
    at = data.find(pattern)
    assert at > 0
    return at


def test_a_flipped_bit_in_the_weights_is_a_named_error(tmp_path, capsys):
    path = tmp_path / "last.pt"
    weights = torch.arange(1000, dtype=torch.float32)
    save_checkpoint({"model": {"w": weights}, "epoch": 1}, path)
    at = _weights_offset(path, weights.numpy().tobytes()[:64]) + 2000
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is damaged"):
        load_checkpoint(path)
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "damaged" in err and str(path) in err


def test_no_bit_flip_anywhere_loads_silently_changed(tmp_path):
    path = tmp_path / "last.pt"
    obj = {"model": {"w": torch.linspace(-1, 1, 300)}, "epoch": 3, "metrics": [{"a": 0.5}]}
    save_checkpoint(obj, path)
    original = path.read_bytes()
    reference = load_checkpoint(path)
    silent = 0
    for at in range(0, len(original), 7):
        data = bytearray(original)
        data[at] ^= 1 << (at % 8)
        path.write_bytes(bytes(data))
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            continue
        # a flip the reader ignores (zip timestamps, unused header fields) changes nothing
        assert ckpt_mod.content_checksum(loaded) == ckpt_mod.content_checksum(reference), at
        silent += 1
    assert silent < len(original) // 7  # most flips are caught


def test_version_1_checkpoints_load_but_a_lost_checksum_does_not(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"model": {"w": torch.ones(2)}, "format": "odenets-checkpoint-1"}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    save_checkpoint({"model": {"w": torch.ones(2)}}, path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"checksum", b"chdcksum"))  # one flipped bit in the key
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


# --- NaN, implicit solves --------------------------------------------------------------------


def _poison(dataset: Dataset, split: str) -> Dataset:
    x = getattr(dataset, f"x_{split}").clone()
    x[5] = float("nan")
    return Dataset(**{**dataset.__dict__, f"x_{split}": x})


def test_nan_stop_says_when_no_checkpoint_was_written(small, tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1.*no checkpoint was written yet"):
        train(_config(tmp_path, epochs=1), dataset=_poison(small, "train"))
    assert not (tmp_path / "last.pt").exists()
    with pytest.raises(TrainingDiverged, match="no checkpoints are written"):
        train(replace(_config(tmp_path, epochs=1), out=None), dataset=_poison(small, "train"))
    train(_config(tmp_path, epochs=2, stop_after=1), dataset=small)
    with pytest.raises(TrainingDiverged, match="epoch 2.*last.pt keeps epoch 1"):
        train(_config(tmp_path, epochs=2, resume=True), dataset=_poison(small, "train"))


def test_nan_test_loss_warns_and_is_recorded_as_null(small, tmp_path):
    with pytest.warns(NonFiniteMetricWarning, match="test loss is nan at epoch 1"):
        result = train(_config(tmp_path, epochs=1), dataset=_poison(small, "test"))
    assert result.history[0]["test_loss"] is None
    assert result.history[0]["nonfinite"] == {"test_loss": "nan"}

    def strict(name):
        raise ValueError(f"not JSON: {name}")

    line = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]
    record = json.loads(line, parse_constant=strict)
    assert record["test_loss"] is None and record["nonfinite"] == {"test_loss": "nan"}
    assert not (tmp_path / "best.pt").exists()  # a NaN epoch is not the best one


def test_implicit_solve_failure_is_one_line(tmp_path, capsys):
    argv = [*CLI_TINY, "--scheme", "backward_euler", "--lr", "20", "--epochs", "2",
            "--out", str(tmp_path / "be"), "--no-progress"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "did not converge" in err and "training stopped at epoch" in err
