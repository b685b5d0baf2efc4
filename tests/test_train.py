"""Trainer: exact resume, atomic checkpoints, NaN stop, schedules, metrics, incremental depth."""

from __future__ import annotations

import json
import os

import pytest
import torch

from odenets.networks.retime import stage_steps
from odenets.workflow import checkpoint as ckpt_mod
from odenets.workflow.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from odenets.workflow.data import Dataset
from odenets.workflow.distributed import DistInfo
from odenets.workflow.train import TrainConfig, TrainingDiverged, _rank_batches, lr_factor, train

TINY = {"scheme": "lm", "depth": 8, "widths": [4, 8, 8]}


def _config(out, **kw):
    base = {
        "model": None,
        "model_args": TINY,
        "epochs": 2,
        "batch_size": 32,
        "lr": 0.05,
        "out": str(out),
        "progress": False,
        "schedule": "step",
    }
    return TrainConfig(**{**base, **kw})


def _same(a, b):
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("how", ["stop_after", "extend"])
def test_resume_is_bitwise_exact(small, tmp_path, how):
    straight = train(_config(tmp_path / "a"), dataset=small)
    if how == "stop_after":  # interrupted run of a 2-epoch plan
        train(_config(tmp_path / "b", stop_after=1), dataset=small)
    else:  # a 1-epoch run extended to 2 epochs
        train(_config(tmp_path / "b", epochs=1), dataset=small)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    resumed = train(_config(tmp_path / "b", resume=True), dataset=small)
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    assert _same(a["model"], b["model"])
    assert _same(straight.model.state_dict(), resumed.model.state_dict())
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k, s in a["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])


def test_checkpoint_contents_best_and_metrics(small, tmp_path):
    result = train(_config(tmp_path, epochs=2), dataset=small)
    last = load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "optimizer", "scheduler", "rng", "epoch", "model_spec"):
        assert key in last
    assert set(last["rng"]) >= {"torch", "numpy", "python"}
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_accuracy"] == max(r["test_accuracy"] for r in result.history)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"train_loss", "test_accuracy", "lr", "seconds"} <= records[0].keys()
    assert records[1]["lr"] == pytest.approx(0.05 * 0.01)  # step schedule: /10 twice at 50/75%


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 1}, path)

    def crash(*_):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(ckpt_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint({"model": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left behind


@pytest.mark.parametrize("content", [b"", b"garbage bytes", "truncate"])
def test_corrupt_checkpoint_is_a_named_error(tmp_path, content):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(1000)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "truncate" else content)
    with pytest.raises(CheckpointError, match="corrupt or not an odenets checkpoint"):
        load_checkpoint(path)


def test_foreign_file_and_missing_file(tmp_path):
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an odenets checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(small, tmp_path):
    train(_config(tmp_path, epochs=1), dataset=small)
    before = (tmp_path / "last.pt").read_bytes()
    x = small.x_train.clone()
    x[5] = float("nan")
    poisoned = Dataset(**{**small.__dict__, "x_train": x})
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2"):
        train(_config(tmp_path, epochs=2, resume=True), dataset=poisoned)
    assert (tmp_path / "last.pt").read_bytes() == before
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_resume_refuses_a_different_model(small, tmp_path):
    train(_config(tmp_path, epochs=1), dataset=small)
    with pytest.raises(CheckpointError, match="model_spec"):
        train(_config(tmp_path, resume=True, model_args={**TINY, "scheme": "euler"}), dataset=small)


def test_schedules():
    assert [lr_factor("step", e, 8) for e in range(8)] == [
        1,
        1,
        1,
        1,
        0.1,
        0.1,
        pytest.approx(0.01),
        pytest.approx(0.01),
    ]
    assert lr_factor("cosine", 0, 10) == 1 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert lr_factor("constant", 9, 10) == 1


@pytest.mark.parametrize("world", [2, 4])
def test_rank_shards_make_up_the_global_batches(world):
    one = _rank_batches(64, 16, seed=3, epoch=2, info=DistInfo())
    shards = [_rank_batches(64, 16, seed=3, epoch=2, info=DistInfo(r, world)) for r in range(world)]
    assert len(one) == 4 and all(len(s) == 4 for s in shards)
    for i, batch in enumerate(one):
        union = torch.cat([s[i] for s in shards])
        assert sorted(union.tolist()) == sorted(batch.tolist())
    other_epoch = _rank_batches(64, 16, seed=3, epoch=3, info=DistInfo())
    assert not torch.equal(torch.cat(one), torch.cat(other_epoch))


def test_incremental_training_refines_the_grid(small, tmp_path):
    args = {"scheme": "rk4", "depth": 14, "widths": [4, 8, 8], "tie": "all"}
    result = train(_config(tmp_path, model_args=args, epochs=2, incremental=(1, 3)), dataset=small)
    assert [r["steps"] for r in result.history] == [1, 3]
    assert stage_steps(result.model) == [3, 3, 3]
    assert load_checkpoint(tmp_path / "last.pt")["retime"] == {"steps": 3}
    with pytest.raises(ValueError, match="tie='all'"):
        train(_config(tmp_path / "x", incremental=(1, 2)), dataset=small)


def test_bad_config_values():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="did you mean 'cosine'"):
        TrainConfig(schedule="cosin").validate()
    with pytest.raises(ValueError, match="--resume needs --out"):
        TrainConfig(resume=True).validate()


SD = {"depth": 8, "widths": [4, 8, 8]}  # a tiny stochastic-depth ResNet


def test_stochastic_net_resumes_exactly_and_its_noise_follows_the_seed(small, tmp_path):
    def cfg(out, **kw):
        return _config(out, model="stochastic_depth_resnet110", model_args=SD, **kw)

    straight = train(cfg(tmp_path / "a"), dataset=small)
    train(cfg(tmp_path / "b", stop_after=1), dataset=small)
    resumed = train(cfg(tmp_path / "b", resume=True), dataset=small)
    assert _same(straight.model.state_dict(), resumed.model.state_dict())
    # same number of draws either way: only the seed can make the noise streams differ
    other = train(cfg(tmp_path / "c", seed=1), dataset=small)
    state = straight.model.noise_source.generator.get_state()
    assert not torch.equal(state, other.model.noise_source.generator.get_state())


def test_noise_seed_differs_between_ranks_and_epochs():
    from odenets.workflow.train import _noise_seed

    seeds = {_noise_seed(0, e, DistInfo(r, 2)) for e in range(3) for r in range(2)}
    assert len(seeds) == 6


def test_logged_lr_is_the_rate_the_epoch_trained_with(small, tmp_path):
    result = train(_config(tmp_path, epochs=4), dataset=small)
    lrs = [r["lr"] for r in result.history]
    assert lrs == pytest.approx([0.05, 0.05, 0.005, 0.0005])
    assert load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["lr"] == (
        pytest.approx(0.0005)
    )


def test_resume_refuses_a_different_recipe_and_names_every_field(small, tmp_path):
    train(_config(tmp_path, epochs=4, stop_after=1), dataset=small)
    with pytest.raises(CheckpointError, match=r"lr=0\.05.*momentum=0\.9") as err:
        train(_config(tmp_path, epochs=4, resume=True, lr=0.1, momentum=0.5), dataset=small)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
    for kw in (
        {"schedule": "cosine"},
        {"weight_decay": 0.0},
        {"nesterov": True},
        {"augment": False},
        {"epochs": 3},  # shortening changes the schedule of a run already under way
    ):
        key = next(iter(kw))
        with pytest.raises(CheckpointError, match=key):
            train(_config(tmp_path, **{"epochs": 4, **kw}, resume=True), dataset=small)
    # extending is allowed: it continues from epoch 1 with the schedule of 5 epochs
    result = train(_config(tmp_path, epochs=5, resume=True, stop_after=1), dataset=small)
    assert [r["epoch"] for r in result.history] == [1, 2]


def test_fresh_run_rewrites_stale_metrics(small, tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 7}\n{"epoch": 8}\n')
    train(_config(tmp_path, epochs=2, stop_after=1), dataset=small)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1]
    train(_config(tmp_path, epochs=2, resume=True), dataset=small)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_incremental_run_wraps_once_per_phase(small, tmp_path, monkeypatch):
    from odenets.workflow import train as train_mod

    calls = []
    wrap = train_mod._wrap
    monkeypatch.setattr(train_mod, "_wrap", lambda net, *a: calls.append(net) or wrap(net, *a))
    args = {"scheme": "rk4", "depth": 14, "widths": [4, 8, 8], "tie": "all"}  # 2/1/1 steps
    config = _config(tmp_path, model_args=args, epochs=3, incremental=(1, 3))
    result = train(config, dataset=small)
    assert [r["steps"] for r in result.history] == [1, 1, 3]
    assert len(calls) == 2


def test_checkpoint_keeps_the_run_config_once(small, tmp_path):
    train(_config(tmp_path, epochs=1), dataset=small)
    last = load_checkpoint(tmp_path / "last.pt")
    assert not {"data", "seed", "batch_size"} & last.keys()
    assert last["config"]["data"] == "digits" and last["config"]["batch_size"] == 32
    assert (tmp_path / "best.pt").read_bytes() == (tmp_path / "last.pt").read_bytes()
