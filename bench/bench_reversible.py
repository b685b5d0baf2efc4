"""Saved activations and train-step time of RevNets and Hamiltonian nets (coupled Euler) vs
ResNets (Euler).

Prints, from one run side by side:
  * bytes of tensors saved for backward (counted with torch.autograd.graph.saved_tensors_hooks,
    parameters excluded, each storage once) for revnet38 / revnet110 and hamiltonian_resnet74 /
    hamiltonian_resnet218 with the reversible backward, the same nets with plain autograd, and
    resnet32 / resnet110;
  * the ratios revnet110 / revnet38 (goal <= 1.3), hamiltonian_resnet218 / 74 and
    resnet110 / resnet32 (~3x);
  * the train-step time (forward + backward) with the reversible backward vs plain autograd
    (goal: recomputation costs < 2x).

    python bench/bench_reversible.py [--batch 16] [--size 32] [--reps 5] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from _timing import interleaved, saved_bytes  # bench/_timing.py

import odenets as on


def train_step(model: torch.nn.Module, x: torch.Tensor):
    def once():
        model.zero_grad(set_to_none=True)
        model(x).logsumexp(1).mean().backward()
        if x.is_cuda:
            torch.cuda.synchronize()

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    nets = {
        "revnet38": on.create_model("revnet38"),
        "revnet110": on.create_model("revnet110"),
        "revnet38 (plain autograd)": on.create_model("revnet38", reversible_backward=False),
        "revnet110 (plain autograd)": on.create_model("revnet110", reversible_backward=False),
        "hamiltonian_resnet74": on.create_model("hamiltonian_resnet74"),
        "hamiltonian_resnet218": on.create_model("hamiltonian_resnet218"),
        "hamiltonian_resnet74 (plain autograd)": on.create_model(
            "hamiltonian_resnet74", reversible_backward=False
        ),
        "hamiltonian_resnet218 (plain autograd)": on.create_model(
            "hamiltonian_resnet218", reversible_backward=False
        ),
        "resnet32": on.create_model("resnet32"),
        "resnet110": on.create_model("resnet110"),
    }
    mib = {}
    print(f"input {tuple(x.shape)} float32 on {args.device}; torch {torch.__version__}")
    print(f"{'model':40s} {'params':>9s} {'saved MiB':>10s}")
    for name, net in nets.items():
        net.to(args.device).train()
        mib[name] = (
            saved_bytes(lambda net=net: net(x).logsumexp(1).mean(), net.parameters()) / 2**20
        )
        print(f"{name:40s} {on.count_parameters(net):9d} {mib[name]:10.2f}")
    print(
        f"revnet110 / revnet38 saved bytes: {mib['revnet110'] / mib['revnet38']:.2f} (goal <= 1.3)"
    )
    ham = mib["hamiltonian_resnet218"] / mib["hamiltonian_resnet74"]
    print(f"hamiltonian_resnet218 / hamiltonian_resnet74 saved bytes: {ham:.2f}")
    print(f"resnet110 / resnet32 saved bytes: {mib['resnet110'] / mib['resnet32']:.2f}")
    print(
        f"plain / reversible, revnet110: {mib['revnet110 (plain autograd)'] / mib['revnet110']:.2f}"
    )
    for name in ("revnet38", "revnet110", "hamiltonian_resnet74"):
        times = interleaved(
            {
                "reversible": train_step(nets[name], x),
                "plain": train_step(nets[f"{name} (plain autograd)"], x),
            },
            repeats=args.reps,
            warmup=2,
        )
        print(
            f"{name} train step (median of {args.reps}, interleaved): reversible "
            f"{times['reversible'] * 1e3:.0f} ms, plain {times['plain'] * 1e3:.0f} ms, "
            f"ratio {times['reversible'] / times['plain']:.2f} (goal < 2)"
        )


if __name__ == "__main__":
    main()
