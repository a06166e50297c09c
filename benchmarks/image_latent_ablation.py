"""Do the latents earn their bits? Per validation photo, the -ELBO (bits/subpixel) of image
models trained the same way, with and without the latent hierarchy, at equal MACs per block.

Train both from scratch for the same steps (one core each, side by side):

    python -m archiver.train.image train --run runs/abl-L4 --levels 4 --trunk 24 \\
        --ar-hidden 48 --steps 4000 --threads 1 --balance 0.5
    python -m archiver.train.image train --run runs/abl-L0 --levels 1 --trunk 48 \\
        --ar-hidden 48 --no-latents --steps 4000 --threads 1 --balance 0.5

then compare their best checkpoints on every validation photo (the same crops training
validated on, 96 per photo; fake-quantised, as the integer model computes):

    python benchmarks/image_latent_ablation.py runs/abl-L4/best.pt runs/abl-L0/best.pt \\
        [--data data/image] [--per-image 96]

Prints per photo: bits/subpixel of each checkpoint, what the first one's latents cost (KL
of all layers) and the ratio of the two; then the totals, weighted by subpixels of crops.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from needs_data import MAKE_IMAGE, require


def load(path: Path):
    import torch
    from archiver.models.image import arch
    from archiver.train.image_torch import ImageModel
    blob = torch.load(path, weights_only=False)
    model = ImageModel(arch.Config(**blob["cfg"]), latents=blob.get("latents", True))
    model.load_state_dict(blob["model"])
    model.eval()
    return model, blob["state"]["step"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpts", type=Path, nargs=2, help="with latents, then without")
    ap.add_argument("--data", type=Path, default=Path("data/image"))
    ap.add_argument("--per-image", type=int, default=96)
    args = ap.parse_args()
    require(args.data / "pixels" / "val", MAKE_IMAGE)
    import torch
    from archiver.train.image_data import load_split
    from archiver.train.image_train import evaluate, macs_per_block, validation_crops
    torch.set_num_threads(1)
    images = load_split(args.data, "val")
    crops = validation_crops(images, args.per_image)      # per_image crops per photo, in order
    models = [load(p) for p in args.ckpts]
    for p, (m, step) in zip(args.ckpts, models):
        print(f"{p}: step {step}, latents {m.latents}, "
              f"{sum(x.numel() for x in m.parameters()):,} parameters, "
              f"{macs_per_block(m.cfg, m.latents):,} MACs/block")
    rows = []
    for k, (name, _) in enumerate(images):
        part = crops[k * args.per_image:(k + 1) * args.per_image]
        terms = [evaluate(m, part, quant=True) for m, _ in models]
        kl = sum(v for key, v in terms[0].items() if key.startswith("kl"))
        rows.append((name, terms[0]["elbo"], kl, terms[1]["elbo"]))
    print(f"\n| photo | with latents | of which latents (KL) | without | with / without |")
    print("|---|---|---|---|---|")
    for name, a, kl, b in rows:
        print(f"| {name} | {a:.4f} | {kl:.4f} | {b:.4f} | {a / b:.4f} |")
    a = np.mean([r[1] for r in rows])
    kl = np.mean([r[2] for r in rows])
    b = np.mean([r[3] for r in rows])
    wins = sum(r[1] < r[3] for r in rows)
    print(f"| **all {len(rows)}** | {a:.4f} | {kl:.4f} | {b:.4f} | {a / b:.4f} |")
    print(f"\nwith latents smaller on {wins} of {len(rows)} photos; the latents' KL is "
          f"{100 * kl / a:.1f}% of the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
