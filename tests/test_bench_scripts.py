"""bench/gpu.py documents its output; bench/bench_compile.py turns a failed compile into a row;
the block-overhead and odeint benchmarks run in a smoke configuration, which checks their
hand-written references against the library (the same numbers) before timing anything.

Nothing here compiles a real network or times anything against a goal: the compile step is
replaced by one that fails, and the rows are checked for what they say, not for their speed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import odenets as on

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu():
    return _load("gpu")


@pytest.fixture(scope="module")
def bench_compile():
    return _load("bench_compile")


TINY = {"widths": (4, 8, 8), "depth": 8}


def test_gpu_help_exits_0_and_documents_every_column(gpu, capsys):
    with pytest.raises(SystemExit) as exit_:
        gpu.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for key, title in gpu.COLUMNS:
        assert f"``{title}``" in text, f"column {title!r} not documented"
        assert f"``{key}``" in text, f"JSON key {key!r} not documented"
    for option in ("--models", "--variants", "--batch", "--steps", "--warmup", "--json"):
        assert option in text
    assert "no cuda" in text.lower() or "without cuda" in text.lower()


def test_gpu_bad_model_is_one_line_and_exit_2(gpu, capsys):
    assert gpu.main(["--models", "resnet21"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resnet20" in err[0]


def test_hand_resnet20_has_the_presets_layers(gpu):
    hand, preset = gpu.HandResNet20(), on.create_model("resnet20")
    assert on.count_parameters(hand) == on.count_parameters(preset) == 269_722
    shapes = sorted(tuple(p.shape) for p in hand.parameters())
    assert shapes == sorted(tuple(p.shape) for p in preset.parameters())
    assert hand(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_gpu_failed_variant_is_a_row(gpu, monkeypatch):
    def failing(module, **kwargs):
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", failing)
    common = {"batch": 2, "steps": 1, "warmup": 1, "device": torch.device("cpu")}
    row = gpu.measure("resnet20", "compiled", **common, **TINY)
    assert row["status"] == "failed: RuntimeError: no compiler here"
    ok = gpu.measure("resnet20", "eager", **common, **TINY)
    assert ok["status"] == "ok" and ok["images_per_s"] > 0 and ok["saved_mib"] > 0
    rows = [ok, row]
    gpu.relate(rows)
    table = gpu.format_table(rows).splitlines()
    assert len(table) == 4 and "failed: RuntimeError" in table[3]


@pytest.mark.parametrize("when", ["at the call", "at the first run"])
def test_bench_compile_failed_compile_is_a_row(bench_compile, when):
    def failing(module, backend):
        if when == "at the call":
            raise RuntimeError("backend compiler failed\nsecond line")

        def compiled(x):
            module(x)  # part of the forward ran
            raise TypeError("Cannot convert expression to float")

        return compiled

    row = bench_compile.measure(
        "resnet20", batch=2, size=8, repeats=1, overrides=TINY, compile_fn=failing
    )
    first = (
        "RuntimeError: backend compiler failed"
        if when == "at the call"
        else "TypeError: Cannot convert expression to float"
    )
    assert row["status"] == f"compile failed: {first}"
    assert row["eager_ms"] > 0 and "compiled_ms" not in row and "speedup" not in row
    table = bench_compile.format_table([row]).splitlines()
    assert len(table) == 3
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    titles = [t for _, t in bench_compile.COLUMNS]
    assert len(cells) == len(titles)
    by = dict(zip(titles, cells, strict=True))
    assert by["preset"] == "resnet20" and by["status"] == f"compile failed: {first}"
    assert by["compiled ms"] == by["speedup"] == by["compile s"] == "-"


def test_bench_compile_models_globs(bench_compile):
    assert bench_compile.select("resnet2*,lm_resnet20") == ["lm_resnet20", "resnet20"]
    with pytest.raises(ValueError, match="resnet20"):
        bench_compile.select("resnet21")


def test_bench_compile_rounding_level_of_a_stochastic_preset(bench_compile):
    # "compiling" to the eager module itself: the same computation, so no difference to
    # eager; the float64 reference draws the same noise (re-seeded; a different draw would
    # differ at O(1)), so the eager float32 level is rounding-small but not zero
    row = bench_compile.measure(
        "shake_shake26_2x32d",
        batch=4,
        size=8,
        repeats=1,
        overrides={**TINY, "stem_width": 4},
        compile_fn=lambda module, backend: module,
        breaks=False,
    )
    assert row["stochastic"] and row["train_err"] == 0.0 and row["status"] == "ok"
    assert 0.0 < row["float32_err"] < 1e-5
    assert row["compiled_float64_err"] == row["float32_err"]


@pytest.mark.parametrize(
    ("train", "level", "check", "want"),
    [
        (4e-6, None, None, "ok"),
        (6.6e-5, 8.6e-5, None, "rounding"),
        (3.8e-3, 3.6e-7, None, "differs"),
        (3.8e-3, 3.6e-7, 5e-14, "rounding"),  # the float64 compiled net equals eager
        (3.8e-3, 3.6e-7, 1e-3, "differs"),
    ],
)
def test_bench_compile_status_compares_to_the_rounding_level(
    bench_compile, train, level, check, want
):
    row = {"train_err": train, "eval_err": 1e-7, "float32_err": level}
    if check is not None:
        row["float64_check_err"] = check
    assert bench_compile.status(row) == want


@pytest.mark.parametrize("dtypes", [(torch.float32,), (torch.float32, torch.float64)])
def test_bench_compile_float64_check_tells_rounding_from_a_wrong_graph(bench_compile, dtypes):
    def perturbing(module, backend):  # a "compiler" that is off by 1e-3 in these dtypes
        return lambda x: module(x) * (1.001 if x.dtype in dtypes else 1.0)

    row = bench_compile.measure(
        "resnet20", batch=2, size=8, repeats=1, overrides=TINY, compile_fn=perturbing, breaks=False
    )
    assert row["train_err"] > 1e-4
    if len(dtypes) == 1:  # exact in float64: the float32 difference is called rounding
        assert row["float64_check_err"] == 0.0 and row["status"] == "rounding"
    else:
        assert row["float64_check_err"] > 1e-4 and row["status"] == "differs"


def test_compile_check_leaves_no_branch_at_zero():
    compile_check = _load("_compile_check")
    net = on.create_model("revnet38", widths=(4, 8, 8), stem_width=4)
    assert any(p.ndim > 1 and not p.any() for p in net.parameters())  # zero last convs
    compile_check.randomize_norms(net)
    assert all(p.any() for p in net.parameters() if p.ndim > 1)


@pytest.mark.parametrize(
    "name, argv, says",
    [
        (
            "bench_block_overhead",
            ["--calls", "2", "--samples", "1", "--runs", "1"],
            "lm (learned k)",
        ),
        (
            "bench_odeint",
            [
                "--steps",
                "10",
                "--batches",
                "1",
                "--dims",
                "2",
                "--repeats",
                "1",
                "--budget",
                "0.05",
            ],
            "odenets_rk4 / hand_rk4",
        ),
    ],
)
def test_overhead_benchmarks_agree_with_their_hand_written_references(name, argv, says, capsys):
    _load(name).main(argv)  # raises (SystemExit / AssertionError) where the numbers differ
    assert says in capsys.readouterr().out
