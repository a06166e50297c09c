"""Command line for the image model: `python -m archiver.train.image {prepare,train}`.

  prepare   fetch the photo packages by name and store their pixels under --data
  train     train (or resume from --run/ckpt.pt) for --hours, logging validation -ELBO
  export    turn a checkpoint into the integer weights file the runtime reads
  grow      widen a training checkpoint (same outputs), to train its new capacity by resuming
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

# Busy-waiting OpenMP threads collapse throughput on a shared 2-core machine (measured: 13 s vs
# 0.2 s per step when other jobs run); must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Coding rules of the ar decoder (arch.Config), not trained: set at export, with their values
CODING_RULES = {"scale_adapt": (0, 1, 2), "colour_adapt": (0, 1), "spatial_adapt": (0, 1),
                "tail": (0, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m archiver.train.image")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="fetch the photo packages and store pixels under --data")
    p.add_argument("--data", type=Path, default=Path("data/image"))
    t = sub.add_parser("train", help="train or resume the image model")
    t.add_argument("--data", type=Path, default=Path("data/image"))
    t.add_argument("--run", type=Path, default=Path("runs/image"))
    t.add_argument("--hours", type=float, default=1.0)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--free-bits", type=float, default=0.05, help="bits per latent dim")
    t.add_argument("--levels", type=int, default=4)
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--decoder", choices=("planes", "ar"), default="ar",
                   help="p(x|z_1): raster-order per-pixel network (ar) or four 2x2 passes")
    t.add_argument("--trunk", type=int, default=24)
    t.add_argument("--ar-hidden", type=int, default=48)
    t.add_argument("--ar-radius", type=int, default=3)
    t.add_argument("--tfeat", type=int, default=8)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--steps", type=int, default=None,
                   help="stop at this step (cosine schedule over steps, not --hours)")
    t.add_argument("--float", action="store_true", help="no fake quantisation")
    t.add_argument("--dc-base", action="store_true",
                   help="planes 1-3 predict relative to the plane-0 pixel (also when resuming)")
    t.add_argument("--eval-minutes", type=float, default=5.0)
    t.add_argument("--val-per-image", type=int, default=96)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--balance", type=float, default=0.0,
                   help="share of crops spread evenly over the photo sources")
    t.add_argument("--no-latents", action="store_true",
                   help="ablation: no latent code (the pixel decoder sees only its context)")
    t.add_argument("--resume-from", type=Path, default=None,
                   help="checkpoint to start from when --run has none (e.g. the committed "
                        "checkpoints/image-l4-train.pt)")
    g = sub.add_parser("grow", help="widen a checkpoint without changing its outputs")
    g.add_argument("ckpt", type=Path, help="training checkpoint to grow")
    g.add_argument("out", type=Path, help="grown checkpoint (resume from it with train "
                                          "--resume-from)")
    for name in ("trunk", "tfeat", "ar-hidden", "ar-blocks", "grid-pos"):
        g.add_argument(f"--{name}", type=int, default=None,
                       help=f"new {name.replace('-', '_')} (at least the checkpoint's)")
    e = sub.add_parser("export", help="export a checkpoint to integer weights")
    e.add_argument("--data", type=Path, default=Path("data/image"))
    e.add_argument("--ckpt", type=Path, default=Path("runs/image/best.pt"))
    e.add_argument("--out", type=Path, default=Path("weights/image-l4.npz"))
    e.add_argument("--crops", type=int, default=2048, help="training crops for latent bins")
    for rule, choices in CODING_RULES.items():
        e.add_argument(f"--{rule.replace('_', '-')}", type=int, choices=choices, default=None,
                       help=f"set Config.{rule} of the exported weights (default: the "
                            "checkpoint's)")
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        from archiver.train.image_data import prepare
        prepare(args.data)
    elif args.cmd == "train":
        from archiver.models.image.arch import Config
        from archiver.train.image_train import train
        cfg = Config(levels=args.levels, width=args.width, dc_base=args.dc_base,
                     decoder=args.decoder, trunk=args.trunk, ar_hidden=args.ar_hidden,
                     ar_radius=args.ar_radius, tfeat=args.tfeat)
        train(args.data, args.run, args.hours, args.batch, args.lr, args.free_bits, cfg,
              quant=not args.float, eval_minutes=args.eval_minutes,
              val_per_image=args.val_per_image, seed=args.seed, resume_from=args.resume_from,
              force_dc_base=args.dc_base, threads=args.threads, steps=args.steps,
              balance=args.balance, latents=not args.no_latents,
              log=lambda m: print(m, flush=True))
    elif args.cmd == "grow":
        from archiver.train.image_train import macs_per_block
        from archiver.train.image_grow import grow_checkpoint
        changes = {k: v for k, v in (("trunk", args.trunk), ("tfeat", args.tfeat),
                                     ("ar_hidden", args.ar_hidden),
                                     ("ar_blocks", args.ar_blocks),
                                     ("grid_pos", args.grid_pos)) if v is not None}
        cfg = grow_checkpoint(args.ckpt, args.out, **changes)
        print(f"wrote {args.out}: {changes}, {macs_per_block(cfg):,} MACs per block")
    elif args.cmd == "export":
        import torch
        from archiver.models.image import weights_io
        from archiver.train.image_data import load_split
        from archiver.train.image_export import export, load_checkpoint
        from archiver.train.image_train import CropSampler
        torch.set_num_threads(2)
        crops = CropSampler(load_split(args.data, "train"), seed=99).batch(args.crops)[0]
        weights = export(load_checkpoint(args.ckpt), crops)
        rules = {k: getattr(args, k) for k in CODING_RULES if getattr(args, k) is not None}
        if rules:                             # coding rules, not trained: set at export
            import dataclasses
            weights = dataclasses.replace(
                weights, cfg=dataclasses.replace(weights.cfg, **rules), graphs={})
        weights_io.save(weights, args.out)
        print(f"wrote {args.out}: latent bin widths {weights.latent_delta.round(5).tolist()}, "
              f"top prior {weights.top_prior}")


if __name__ == "__main__":
    main()
