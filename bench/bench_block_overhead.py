"""Python overhead of one SchemeBlock forward against a hand-written block of the same layers.

At tiny tensors (batch 1, 8 channels, 8x8; training mode, autograd on) a block's time is
mostly Python and operator dispatch, so the difference ``SchemeBlock - hand-written`` is the
cost of the scheme machinery per block and forward. Each hand-written block holds the same
modules (the same ``BasicField`` objects) and performs the same tensor operations as the
scheme's step, written out by hand:

- ``euler``: ``x + F(x)``;
- ``lm`` (learned ``k``): ``(1 - k) x + k x_prev + (1 + k) F(x)``, from a two-step history,
  with ``k = σ(θ)`` kept inside ``(-1, 1)`` by the same parametrisation
  (:func:`odenets.networks.coefficients.soft_bound`: a few scalar operations);
- ``heun`` (one ``F`` per stage): ``k1 = F1(x)``, ``k2 = F2(x + k1)``,
  ``x + k1/2 + k2/2`` (fused adds);
- ``coupled_euler`` (RevNet, half-width ``F``, ``G``): ``y1 = x1 + F(x2)``,
  ``y2 = x2 + G(y1)``; the scheme's step also joins ``(y1, x2)`` once for the second
  slot's state (one ``cat`` more than the hand-written block);
- ``euler_maruyama`` + stochastic depth (one gate per batch, ``p = 0.5``, the same generator
  seed): the Euler–Maruyama arithmetic ``x + h a + b dW`` with ``a = p F / h``,
  ``b = sqrt(h p (1 - p)) F / h``, ``dW = (beta - p) sqrt(h / (p (1 - p)))``; a dropped block
  returns ``x``.

Every candidate is timed round-robin (``--calls`` forwards per sample, ``--samples``
samples, the fastest one) in CPU time of the timing thread (one torch thread: robust to other
processes on a shared machine), and the whole measurement is repeated ``--runs`` times; the
table shows the minimum and maximum over the runs. Run::

    python bench/bench_block_overhead.py [--calls 200] [--samples 15] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import Tensor, nn

import odenets as on
from odenets.networks.coefficients import soft_bound
from odenets.networks.fields import BasicField
from odenets.numerics.steps import History


class HandEuler(nn.Module):
    def __init__(self, f: BasicField):
        super().__init__()
        self.f = f

    def forward(self, x: Tensor) -> Tensor:
        f = self.f
        return x + f.bn2(f.conv2(torch.relu(f.bn1(f.conv1(x)))))


class HandLM(nn.Module):
    def __init__(self, f: BasicField, theta: nn.Parameter):
        super().__init__()
        self.f, self.theta = f, theta

    def forward(self, x: Tensor, prev: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        f, k = self.f, soft_bound(self.theta, -1.0, 1.0)
        fx = f.bn2(f.conv2(torch.relu(f.bn1(f.conv1(x)))))
        y = (1 - k) * x + k * prev + (1 + k) * fx
        return y, (x, fx)


class HandHeun(nn.Module):
    def __init__(self, f1: BasicField, f2: BasicField):
        super().__init__()
        self.f1, self.f2 = f1, f2

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.f1, self.f2
        k1 = a.bn2(a.conv2(torch.relu(a.bn1(a.conv1(x)))))
        z = x + k1
        k2 = b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(z)))))
        return torch.add(torch.add(x, k1, alpha=0.5), k2, alpha=0.5)


class HandRev(nn.Module):
    def __init__(self, f: BasicField, g: BasicField):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x: Tensor) -> Tensor:
        f, g = self.f, self.g
        x1, x2 = x.chunk(2, 1)
        y1 = x1 + f.bn2(f.conv2(torch.relu(f.bn1(f.conv1(x2)))))
        y2 = x2 + g.bn2(g.conv2(torch.relu(g.bn1(g.conv1(y1)))))
        return torch.cat((y1, y2), 1)


class HandStochasticDepth(nn.Module):
    def __init__(self, f: BasicField, p: float, generator: torch.Generator):
        super().__init__()
        self.f, self.p, self.generator = f, p, generator
        self.scale = math.sqrt(1.0 / (p * (1.0 - p)))  # h = 1
        self.b = math.sqrt(p * (1.0 - p))

    def forward(self, x: Tensor) -> Tensor:
        keep = torch.rand(1, generator=self.generator) < self.p
        if not keep:
            return x
        dw = (keep.to(x.dtype).reshape(1, 1, 1, 1) - self.p) * self.scale
        f = self.f
        out = f.bn2(f.conv2(torch.relu(f.bn1(f.conv1(x)))))
        return torch.addcmul(x + out * self.p, out * self.b, dw)


def _field(channels: int) -> BasicField:
    f = BasicField(channels)
    for bn in (f.bn1, f.bn2):  # non-trivial outputs (the last BN is zero-initialised)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
    return f


def build(channels: int = 8):
    """``{name: (scheme_block_call, hand_written_call)}`` on shared modules and inputs."""
    torch.manual_seed(0)
    x = torch.randn(1, channels, 8, 8)
    prev, fprev = torch.randn_like(x), torch.randn_like(x)
    cases = {}

    f = _field(channels)
    block, hand = on.SchemeBlock("euler", f), HandEuler(f)
    cases["euler"] = (lambda b=block: b(x), lambda m=hand: m(x))

    f = _field(channels)
    block = on.SchemeBlock("lm", f)  # learns k (one scalar parameter)
    hand = HandLM(f, block.coefficients["k"])
    state = History((prev,), (fprev,))
    cases["lm (learned k)"] = (
        lambda b=block: b.step(x, state),
        lambda m=hand: m(x, prev),
    )

    f1, f2 = _field(channels), _field(channels)
    block, hand = on.SchemeBlock("heun", [f1, f2]), HandHeun(f1, f2)
    cases["heun"] = (lambda b=block: b(x), lambda m=hand: m(x))

    f, g = _field(channels // 2), _field(channels // 2)
    block, hand = on.SchemeBlock("coupled_euler", [f, g]), HandRev(f, g)
    cases["coupled_euler"] = (lambda b=block: b(x), lambda m=hand: m(x))

    f = _field(channels)
    noise = on.StochasticDepth(0.5, schedule="constant", per="batch")
    source = on.NoiseSource(seed=0)
    block = on.SchemeBlock("euler_maruyama", f, noise=noise, source=source)
    hand = HandStochasticDepth(f, 0.5, torch.Generator().manual_seed(0))
    cases["euler_maruyama + stochastic depth"] = (lambda b=block: b(x), lambda m=hand: m(x))

    for name, (lib, ref) in cases.items():  # the same numbers before timing anything
        if name.startswith("euler_maruyama"):
            source.seed(0)
            hand.generator.manual_seed(0)
        a, b = lib(), ref()
        a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
        if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{name}: SchemeBlock and hand-written block differ")
    return cases


def measure(cases, calls: int, samples: int) -> dict[str, tuple[float, float]]:
    """Microseconds per forward (the fastest sample: the least disturbed by other processes),
    ``{name: (scheme_block, hand_written)}``."""
    fns = {(n, i): pair[i] for n, pair in cases.items() for i in (0, 1)}
    for fn in fns.values():
        for _ in range(calls // 4):
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(samples):
        for key, fn in fns.items():
            start = time.thread_time()
            for _ in range(calls):
                fn()
            times[key].append((time.thread_time() - start) / calls * 1e6)
    best = {k: min(v) for k, v in times.items()}
    return {n: (best[(n, 0)], best[(n, 1)]) for n in cases}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="forwards per timed sample")
    parser.add_argument("--samples", type=int, default=15, help="timed samples per run")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cases = build()
    runs = [measure(cases, args.calls, args.samples) for _ in range(args.runs)]
    print(
        f"torch {torch.__version__}, 1 thread, thread CPU time, batch 1 x 8 x 8 x 8, training "
        f"mode, forward only; min-max over {args.runs} runs (best of {args.samples} samples "
        f"of {args.calls} calls)"
    )
    head = (
        f"{'block':<34} {'hand-written us':>16} {'SchemeBlock us':>16} {'overhead us':>14} "
        f"{'ratio':>12}"
    )
    print(head)
    print("-" * len(head))

    def span(values, fmt):
        return f"{fmt.format(min(values))}-{fmt.format(max(values))}"

    for name in cases:
        lib = [r[name][0] for r in runs]
        ref = [r[name][1] for r in runs]
        over = [r[name][0] - r[name][1] for r in runs]
        ratio = [r[name][0] / r[name][1] for r in runs]
        print(
            f"{name:<34} {span(ref, '{:.1f}'):>16} {span(lib, '{:.1f}'):>16} "
            f"{span(over, '{:+.1f}'):>14} {span(ratio, '{:.3f}'):>12}"
        )


if __name__ == "__main__":
    main()
