"""Training throughput on a GPU: odenets presets vs a hand-written PyTorch ResNet-20.

Trains (forward, cross-entropy, backward, SGD step with momentum; random CIFAR-shaped data,
``--batch`` x 3 x 32 x 32, fixed labels) each of ``--models`` (default resnet20, lm_resnet20,
revnet38, shake_shake26_2x32d) and ``hand_resnet20`` — a plain PyTorch ResNet-20 written in
this file with the layers of He et al. (2016), option A shortcuts (stride-2 subsampling and
zero channels), 269,722 parameters like the resnet20 preset (checked at start) — in each of
``--variants``:

* ``eager``: float32, contiguous (NCHW) tensors;
* ``compiled``: ``torch.compile(model)`` (default mode, inductor) with the dynamo settings of
  ``odenets train --compile`` (docs/benchmarks.md); the first steps (compilation) are warm-up;
* ``channels_last``: eager, model and input in ``torch.channels_last`` memory format;
* ``bf16``: eager, forward and loss under ``torch.autocast(dtype=torch.bfloat16)``.

Stochastic presets draw their noise on the training device (``net.noise_source.generator =
torch.Generator(device)``, docs/stochastic.md). Then revnet38 with its memory-saving reversible
backward (activations recomputed from the outputs; the preset's default) against
``reversible_backward=False`` (plain autograd, every activation stored), eager float32.

Columns of the printed table (and keys of the JSON rows):

* ``model`` (``model``), ``variant`` (``variant``);
* ``params`` (``params``): trainable parameters;
* ``img/s`` (``images_per_s``): training images per second over ``--steps`` timed steps
  after ``--warmup`` untimed ones (CUDA: synchronised before and after);
* ``ms/step`` (``ms_per_step``): milliseconds per training step;
* ``vs hand`` (``vs_hand``): ``img/s`` over that of hand_resnet20 in the same variant (1.00:
  as fast as the plain PyTorch net; presets other than resnet20 are different networks, so
  this is their cost relative to ResNet-20, not an overhead);
* ``peak MiB`` (``peak_mib``): ``torch.cuda.max_memory_allocated`` during the timed steps of
  this row (CUDA only; ``-`` on a CPU);
* ``saved MiB`` (``saved_mib``): bytes autograd saves for backward in one training forward
  (``torch.autograd.graph.saved_tensors_hooks``, parameters excluded; eager rows only);
* ``compile s`` (``compile_s``): wall seconds of the first step of a ``compiled`` row;
* ``status`` (``status``): ``ok``, or ``failed: <exception's first line>`` (a row that could
  not run, e.g. a compiler error; the other rows still run).

The RevNet rows (model ``revnet38 (reversible)`` / ``revnet38 (plain autograd)``) add the
``memory saving``: plain / reversible peak memory (CUDA) and saved bytes, and the time ratio
reversible / plain. ``--json PATH`` (default ``gpu_bench.json``) writes the rows and the
environment (device name, torch and CUDA versions, date).

Without CUDA the script runs a small configuration (``--batch 4 --steps 2 --warmup 1`` unless
given), skips peak memory and the ``compiled`` variant (minutes of CPU compile time per net;
``--variants`` naming it runs it anyway) and says so in one line::

    python bench/gpu.py                      # on a CUDA machine: the full table
    python bench/gpu.py --batch 256 --variants eager,compiled
    python bench/gpu.py --models resnet20 --json /tmp/gpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compile_check import compile_settings
from _timing import markdown_table, saved_bytes
from bench_compile import cpu_name

import odenets as on

MODELS = ("resnet20", "lm_resnet20", "revnet38", "shake_shake26_2x32d")
VARIANTS = ("eager", "compiled", "channels_last", "bf16")
HAND = "hand_resnet20"
HAND_PARAMS = 269_722  # the resnet20 preset's count, He et al.'s 0.27M
COLUMNS = (
    ("model", "model"),
    ("variant", "variant"),
    ("params", "params"),
    ("images_per_s", "img/s"),
    ("ms_per_step", "ms/step"),
    ("vs_hand", "vs hand"),
    ("peak_mib", "peak MiB"),
    ("saved_mib", "saved MiB"),
    ("compile_s", "compile s"),
    ("status", "status"),
)


# ------------------------------------------------------------------ the hand-written ResNet-20


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. Option A shortcut when the
    shape changes: every other pixel (stride 2) and ``(cout - cin) / 2`` zero channels on each
    side — no parameters."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, (cout - cin) // 2

    def shortcut(self, x: Tensor) -> Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class HandResNet20(nn.Module):
    """He et al.'s CIFAR ResNet-20: conv3x3 3 -> 16, BN, ReLU; three stages of three basic
    blocks at 16, 32, 64 channels (the first block of stages two and three strided);
    global average pooling; linear 64 -> 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(torch.relu(self.bn(self.conv(x))))
        return self.fc(x.mean((2, 3)))


# ------------------------------------------------------------------------------ measurement


def build(name: str, device: torch.device, **overrides: Any) -> nn.Module:
    """``name`` (a preset or ``hand_resnet20``) on ``device``, training mode; a stochastic
    preset draws its noise on ``device``."""
    torch.manual_seed(0)
    net = HandResNet20() if name == HAND else on.create_model(name, **overrides)
    net.to(device).train()
    if getattr(net, "noise_source", None) is not None and device.type != "cpu":
        net.noise_source.generator = torch.Generator(device).manual_seed(0)
    return net


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(net: nn.Module, variant: str, x: Tensor, y: Tensor) -> Callable[[], None]:
    """The training step of ``net`` in ``variant`` (``net`` compiled for ``compiled``,
    converted in place for ``channels_last``)."""
    call: Callable[[Tensor], Tensor] = net
    if variant == "compiled":
        call = torch.compile(net)
    if variant == "channels_last":
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    autocast = variant == "bf16"

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = nn.functional.cross_entropy(call(x), y)
        loss.backward()
        opt.step()

    return step


def measure(
    name: str,
    variant: str,
    *,
    batch: int,
    steps: int,
    warmup: int,
    device: torch.device,
    **overrides: Any,
) -> dict[str, Any]:
    """One row: ``name`` trained in ``variant`` (see the module docstring for the keys)."""
    row: dict[str, Any] = {"model": name, "variant": variant}
    try:
        net = build(name, device, **overrides)
        row["params"] = on.count_parameters(net)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
        y = torch.randint(10, (batch,), generator=gen).to(device)
        if variant == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        step = train_step(net, variant, x, y)
        with compile_settings():
            start = time.perf_counter()
            step()
            _sync(device)
            if variant == "compiled":
                row["compile_s"] = time.perf_counter() - start
            for _ in range(warmup - 1):
                step()
            if device.type == "cuda":
                _sync(device)
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            _sync(device)
            seconds = time.perf_counter() - start
        row["images_per_s"] = batch * steps / seconds
        row["ms_per_step"] = seconds / steps * 1e3
        if device.type == "cuda":
            row["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        if variant == "eager":

            def forward() -> Tensor:
                return nn.functional.cross_entropy(net(x), y)

            row["saved_mib"] = saved_bytes(forward, net.parameters()) / 2**20
            net.zero_grad(set_to_none=True)
        row["status"] = "ok"
    except Exception as err:  # one row says what failed; the others still run
        text = (str(err).strip().splitlines() or [""])[0]
        row["status"] = f"failed: {type(err).__name__}: {text}"[:160]
    finally:
        if hasattr(torch, "_dynamo"):
            torch._dynamo.reset()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def relate(rows: list[dict[str, Any]]) -> None:
    """Fill ``vs_hand``: each row's images/s over hand_resnet20's in the same variant."""
    hand = {r["variant"]: r.get("images_per_s") for r in rows if r["model"] == HAND}
    for r in rows:
        base = hand.get(r["variant"])
        if base and r.get("images_per_s") and not r["model"].startswith("revnet38 ("):
            r["vs_hand"] = r["images_per_s"] / base


def revnet_saving(rows: list[dict[str, Any]]) -> dict[str, float]:
    """plain / reversible peak memory and saved bytes, and reversible / plain step time."""
    rev = next((r for r in rows if r["model"] == "revnet38 (reversible)"), {})
    plain = next((r for r in rows if r["model"] == "revnet38 (plain autograd)"), {})
    out = {}
    for key, name in (("peak_mib", "peak_memory_ratio"), ("saved_mib", "saved_bytes_ratio")):
        if rev.get(key) and plain.get(key):
            out[name] = plain[key] / rev[key]
    if rev.get("ms_per_step") and plain.get("ms_per_step"):
        out["time_ratio"] = rev["ms_per_step"] / plain["ms_per_step"]
    return out


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "params":
        return f"{value:,}"
    if key == "vs_hand":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one markdown table (``-``: not measured)."""
    return markdown_table(COLUMNS, rows, _cell)


def environment(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "date": datetime.date.today().isoformat(),
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
    }


def _names(text: str, valid: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise ValueError(
            f"{what}: unknown {', '.join(bad) or '(none given)'}; valid: " + ", ".join(valid)
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated presets")
    parser.add_argument("--variants", default=None, help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--batch", type=int, default=None, help="default 128 (CUDA), 4 (CPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps: 50 / 2")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps: 10 / 1")
    parser.add_argument("--device", default=None, help="default cuda if available, else cpu")
    parser.add_argument("--json", type=Path, default=Path("gpu_bench.json"))
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: CUDA is not available on this machine")
        models = _names(args.models, on.list_models(), "--models")
        variants = _names(args.variants, VARIANTS, "--variants") if args.variants else None
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    args.batch = args.batch or (128 if cuda else 4)
    args.steps = args.steps or (50 if cuda else 2)
    args.warmup = max(1, args.warmup or (10 if cuda else 1))
    if variants is None:
        variants = list(VARIANTS) if cuda else [v for v in VARIANTS if v != "compiled"]
    if not cuda:
        skipped = "peak memory (needs CUDA)"
        if "compiled" not in variants:
            skipped += ", the compiled variant (minutes of CPU compile time per net)"
        print(
            f"no CUDA: small CPU configuration (batch {args.batch}, {args.steps} timed steps); "
            f"skipped {skipped}"
        )
    if on.count_parameters(HandResNet20()) != HAND_PARAMS:
        raise SystemExit(f"hand_resnet20 does not have {HAND_PARAMS:,} parameters")
    env = environment(device, args)
    print(f"{env['date']}, {env['device']}, torch {env['torch']}, batch {args.batch} x 3 x 32 x 32")
    jobs = [(m, v, {}) for m in (HAND, *models) for v in variants]
    jobs += [
        ("revnet38 (reversible)", "eager", {"reversible_backward": True}),
        ("revnet38 (plain autograd)", "eager", {"reversible_backward": False}),
    ]
    rows = []
    common = {"batch": args.batch, "steps": args.steps, "warmup": args.warmup, "device": device}
    for label, variant, overrides in tqdm(jobs, file=sys.stderr, unit="run"):
        name = label.split(" ")[0]
        row = measure(name, variant, **common, **overrides)
        row["model"] = label
        rows.append(row)
    relate(rows)
    saving = revnet_saving(rows)
    print(format_table(rows))
    if saving:
        print(
            "revnet38, plain autograd / reversible backward: "
            + ", ".join(
                f"{k.replace('_ratio', '').replace('_', ' ')} {v:.2f}x"
                for k, v in saving.items()
                if k != "time_ratio"
            )
            + (
                f"; step time reversible / plain {saving['time_ratio']:.2f}"
                if "time_ratio" in saving
                else ""
            )
        )
    args.json.write_text(json.dumps({"environment": env, "rows": rows, "revnet": saving}, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
