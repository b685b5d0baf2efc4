"""CIFAR-10: ResNet-20/32/44/56 against LM-ResNet-20/32/44/56 (Lu et al., ICML 2018).

The recipe of both papers: SGD with momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided
by 10 at 50% and 75% of 160 epochs, 4-pixel padded random crops and horizontal flips,
per-channel normalization. Test error to expect (single runs, as published):

    depth   ResNet (He et al. 2016)   LM-ResNet (Lu et al. 2018, Table 1)
    20      8.75%  (0.27M params)     8.33%
    32      7.51%  (0.46M)            7.18%
    44      7.17%  (0.66M)            6.66%
    56      6.97%  (0.85M)            6.31%

One run of ResNet-20 is about an hour on one modern GPU; all eight about a day. With several
GPUs use torchrun (``--batch-size`` stays the global batch), e.g. per model:

    torchrun --nproc_per_node=4 -m odenets train --model lm_resnet56 --data cifar10 \\
        --data-dir ~/data --download --epochs 160 --out runs/lm_resnet56

This script runs the whole comparison sequentially:

    python examples/cifar10_resnet_vs_lm.py --data-dir ~/data --download
    python examples/cifar10_resnet_vs_lm.py --smoke   # 1 epoch on a tiny generated archive (CPU)
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from odenets.workflow.cifar import write_batch
from odenets.workflow.train import TrainConfig, train

DEPTHS = (20, 32, 44, 56)


def tiny_archive(root: Path, per_batch: int = 64, seed: int = 0) -> Path:
    """A CIFAR-10 archive in the standard format with random images (for the smoke mode)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_batch(
            folder / name,
            rng.integers(0, 256, (per_batch, 3, 32, 32)),
            rng.integers(0, 10, per_batch).tolist(),
        )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with (or for) cifar-10-batches-py")
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--epochs", type=int, default=160)
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--out", default="runs/cifar10")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="1 epoch of ResNet-20 and LM-ResNet-20 on a tiny random archive",
    )
    args = parser.parse_args()
    depths = [20] if args.smoke else [int(d) for d in args.depths.split(",")]
    data_dir, epochs, batch = args.data_dir, args.epochs, 128
    if args.smoke:
        data_dir, epochs, batch = str(tiny_archive(Path(tempfile.mkdtemp()))), 1, 64
    rows = []
    for depth in depths:
        for preset in (f"resnet{depth}", f"lm_resnet{depth}"):
            config = TrainConfig(
                model=preset,
                data="cifar10",
                data_dir=data_dir,
                download=args.download and not args.smoke,
                epochs=epochs,
                batch_size=batch,
                lr=0.1,
                weight_decay=1e-4,
                schedule="step",
                out=str(Path(args.out) / preset),
            )
            result = train(config)
            rows.append(
                (preset, 100 * (1 - result.test_accuracy), 100 * (1 - result.best_accuracy))
            )
            print(f"{preset}: test error {rows[-1][1]:.2f}% (best epoch {rows[-1][2]:.2f}%)")
    print("\n| model | final test error | best epoch |\n|---|---|---|")
    for preset, final, best in rows:
        print(f"| {preset} | {final:.2f}% | {best:.2f}% |")


if __name__ == "__main__":
    main()
