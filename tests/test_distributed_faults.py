"""Data parallelism and its faults, on ``torchrun --nproc_per_node=2 -m odenets train`` (gloo,
CPU, localhost): the two-process job gives the model of one process with the same global
batch (to within 1e-4); a lost rank is one line naming it, a silent one times out naming it,
no wait is unbounded, and a killed worker restarted by ``torchrun --max-restarts=1`` with the
same command line (``--resume auto``, the default under torchrun) ends bitwise equal to the
uninterrupted job.

Conditions of the equivalence (docs/distributed.md): a ~5k-parameter LM-ResNet, digits, batch
128, lr 0.1, two epochs of 11 steps, float32. The two runs differ only in summation order;
training amplifies that difference (on full-width resnet20 at lr 0.1 it reaches ~1e-3 after
one epoch), so the bound holds for these conditions, not for any net or any number of
epochs. One uninterrupted job serves both as the equivalence run and as the reference of the
restart test (each torchrun job starts three Python processes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from odenets.workflow.checkpoint import load_checkpoint
from odenets.workflow.cli import main
from odenets.workflow.distributed import DistInfo, peer_failure
from odenets.workflow.run_folder import resume_plan, will_resume

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "train", "--model", "lm_resnet20", "--depth", "8", "--widths", "4,8,8", "--epochs", "2",
    "--batch-size", "128", "--lr", "0.1", "--seed", "3", "--device", "cpu", "--no-progress",
]  # fmt: skip
LINUX = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC")}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _torchrun(out: Path, logs: Path, *extra: str, restarts: int = 0) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        f"--max-restarts={restarts}", "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        f"--log-dir={logs}", "--tee=3", "-m", "odenets", *ARGS, "--out", str(out), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT
    )


def _worker(parent: int, rank: int) -> int:
    """The pid of the first-attempt worker of ``rank`` started by torchrun ``parent``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(entry.name)
    pytest.skip("could not find the worker process")


def _until_epoch(proc: subprocess.Popen, epoch: int, seen: list[str]) -> None:
    for line in proc.stdout:
        seen.append(line)
        if f"epoch {epoch:>3}/" in line:
            return
    pytest.fail(f"the job ended before epoch {epoch}:\n" + "".join(seen)[-3000:])


def _rest(proc: subprocess.Popen, seen: list[str], timeout: float = 400) -> str:
    try:
        rest, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the torchrun job did not end in {timeout} s (a hang)")
    return "".join(seen) + rest


def _rank_log(logs: Path, attempt: int, rank: int, stream: str = "stderr") -> str:
    (path,) = logs.glob(f"*/attempt_{attempt}/{rank}/{stream}.log")
    return path.read_text()


# --- no torchrun needed ----------------------------------------------------------------------


def test_resume_auto_is_the_default_under_torchrun(monkeypatch, tmp_path):
    for key in ("TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT"):
        monkeypatch.delenv(key, raising=False)
    assert resume_plan(None, False) == ("never", False)
    assert resume_plan(True, False) == ("always", False)
    assert resume_plan(None, True) == ("never", True)
    with pytest.raises(ValueError, match="--overwrite .* cannot be combined with --resume"):
        resume_plan("auto", True)
    with pytest.raises(ValueError, match="did you mean 'auto'"):
        resume_plan("aut", False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    assert resume_plan(None, False) == ("auto", False)
    assert resume_plan(False, False) == ("never", False)
    # a restart continues what the first attempt of this job wrote, even with --overwrite
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert resume_plan(None, True) == ("auto", False)
    assert not will_resume(tmp_path, "auto")
    (tmp_path / "last.pt").write_bytes(b"")
    assert will_resume(tmp_path, "auto") and not will_resume(tmp_path, "never")


def test_peer_failures_name_the_rank():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    me = (host, os.getpid())
    info = DistInfo(rank=0, world=2, peers=(me, (host, gone.pid)), timeout_s=5)
    reset = RuntimeError("[pair.cc:537] Read error [127.0.0.1]:1: Connection reset by peer")
    assert peer_failure(reset, info) == (
        f"lost rank 1 (pid {gone.pid}) of 2 processes: its process is gone"
    )
    alive = DistInfo(rank=1, world=3, peers=(me, me, me), timeout_s=5)
    late = RuntimeError("[gloo] Timed out waiting 5000ms for recv operation to complete")
    assert peer_failure(late, alive).startswith("timed out after 5 s waiting for ranks 0, 2 of 3")
    assert "one of 0, 2" in peer_failure(reset, alive, wait_s=0)
    shapes = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    assert peer_failure(shapes, alive, wait_s=0) is None
    assert peer_failure(reset, DistInfo()) is None


def test_joining_a_group_whose_peer_never_comes_is_bounded(tmp_path):
    env = _env(
        WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
    )  # fmt: skip
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "odenets", *ARGS, "--out", str(tmp_path / "run"),
             "--dist-timeout", "2"],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("rank 0 waited for its missing peer for more than 120 s")
    err = proc.stderr.strip()
    assert proc.returncode == 1 and "\n" not in err and "Traceback" not in err, err
    assert "rank 0 of 2 could not join the process group" in err and "within 2 s" in err


# --- torchrun jobs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The folder of an uninterrupted two-process job (``last.pt`` after both epochs)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    for attempt in range(2):  # a second try only if another process grabbed the free port
        job = _torchrun(out / "run", out / "logs")
        text = _rest(job, [])
        port_taken = "address already in use" in text.lower()
        if job.returncode == 0 or not port_taken or attempt:
            break
    assert job.returncode == 0, text[-3000:]
    return out / "run"


@LINUX
def test_two_gloo_processes_match_one_process(uninterrupted, tmp_path, capsys):
    assert main([*ARGS, "--out", str(tmp_path / "one"), "--threads", "1"]) == 0
    capsys.readouterr()
    two = load_checkpoint(uninterrupted / "last.pt")
    one = load_checkpoint(tmp_path / "one" / "last.pt")
    assert two["world"] == 2 and one["world"] == 1
    assert two["model"].keys() == one["model"].keys()
    moved = 0
    initial = _initial_state()
    for key, value in one["model"].items():
        if value.is_floating_point():
            assert torch.allclose(two["model"][key], value, atol=1e-4, rtol=0), key
            moved += not torch.allclose(value, initial[key], atol=1e-3)
        else:
            assert torch.equal(two["model"][key], value), key
    assert moved > 10  # training changed the weights, so the agreement is not trivial
    for a, b in zip(two["metrics"], one["metrics"], strict=True):
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=0.01)


def _initial_state():
    from odenets.networks.presets import create_model

    torch.manual_seed(3)
    return create_model(
        "lm_resnet20", depth=8, widths=(4, 8, 8), in_channels=1, num_classes=10, dims=2
    ).state_dict()


@LINUX
@pytest.mark.slow
def test_killed_rank_is_named_and_an_elastic_restart_ends_bitwise_equal(uninterrupted, tmp_path):
    logs = tmp_path / "logs"
    job = _torchrun(tmp_path / "run", logs, "--dist-timeout", "60", restarts=1)
    seen: list[str] = []
    _until_epoch(job, 1, seen)
    os.kill(_worker(job.pid, 1), signal.SIGKILL)
    text = _rest(job, seen)
    assert job.returncode == 0, text[-3000:]

    survivor = _rank_log(logs, 0, 0).strip()
    assert "\n" not in survivor and "Traceback" not in survivor, survivor
    assert "rank 1" in survivor, survivor  # the lost rank is named
    restarted = _rank_log(logs, 1, 0)
    assert "resuming from epoch 1 of 2" in restarted, restarted

    a = load_checkpoint(uninterrupted / "last.pt")
    b = load_checkpoint(tmp_path / "run" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["world"] == b["world"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    assert [r["test_accuracy"] for r in a["metrics"]] == [r["test_accuracy"] for r in b["metrics"]]


@LINUX
@pytest.mark.slow
def test_a_silent_rank_times_out_naming_it(tmp_path):
    logs = tmp_path / "logs"
    job = _torchrun(tmp_path / "run", logs, "--dist-timeout", "6", "--epochs", "50")
    seen: list[str] = []
    _until_epoch(job, 1, seen)
    silent = _worker(job.pid, 1)
    os.kill(silent, signal.SIGSTOP)  # alive but not answering
    try:
        for line in job.stdout:
            seen.append(line)
            if "odenets:" in line:
                break
    finally:
        os.kill(silent, signal.SIGKILL)
    _rest(job, seen)
    line = _rank_log(logs, 0, 0).strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert "timed out after 6 s waiting for rank 1 of 2" in line, line
    assert "keeps epoch" in line
