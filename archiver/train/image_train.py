"""Training loop of the image model: random 40x40 crops (32x32 block + 8 px context), Adam,
time-budgeted cosine learning rate, periodic validation -ELBO (bits/dim) and resumable checkpoints.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from archiver.models.image import arch
from archiver.train.image_data import load_split
from archiver.train.image_torch import PIXEL_NETS, ImageModel

CROP_H, CROP_W = arch.CROP_H, arch.CROP_W
GRID_ALIGN = 8          # a JPEG ancestor's block grid: grid_pos models train on crops aligned to it


class CropSampler:
    """Random crops from whole images, each image weighted by its number of crop positions."""

    def __init__(self, images: list[tuple[str, np.ndarray]], seed: int, balance: float = 0.0,
                 align: int = 1):
        """align: crops start at multiples of it (8 for a grid_pos model: its blocks then sit on
        a JPEG ancestor's 8x8 grid as whole images' blocks do; a mirrored crop stays on it).
        balance: the share of crops spread evenly over the sources (the name's prefix
        before "-": the Enlightenment photos alone hold ~90% of the pixels, the small GCompris
        and Tux Paint images ~6%); the rest is weighted by crop positions, as is every
        image within its source."""
        self.images = [np.ascontiguousarray(img) for _, img in images]
        w = np.array([(i.shape[0] - CROP_H + 1) * (i.shape[1] - CROP_W + 1) for i in self.images],
                     float)
        self.p = w / w.sum()
        if balance > 0:
            src = np.array([name.split("-", 1)[0] for name, _ in images])
            even = np.zeros_like(w)
            for s in np.unique(src):
                even[src == s] = w[src == s] / w[src == s].sum() / len(np.unique(src))
            self.p = (1 - balance) * self.p + balance * even
        self.rng = np.random.default_rng(seed)
        self.align = align

    def batch(self, n: int, p_edge: float = 0.15):
        idx = self.rng.choice(len(self.images), size=n, p=self.p)
        out = np.empty((n, CROP_H, CROP_W, 3), np.uint8)
        for k, i in enumerate(idx):
            img = self.images[i]
            a = self.align
            y = a * self.rng.integers(0, (img.shape[0] - CROP_H) // a + 1)
            x = a * self.rng.integers(0, (img.shape[1] - CROP_W) // a + 1)
            c = img[y:y + CROP_H, x:x + CROP_W]
            # context left and right are both 8 columns wide, so a mirrored crop is valid
            out[k] = c[:, ::-1] if self.rng.random() < 0.5 else c
        top = self.rng.random(n) >= p_edge       # image edges: no rows above / columns left
        left = self.rng.random(n) >= p_edge
        topright = self.rng.random(n) >= p_edge  # right edge: no block above-right
        return out, top, left, topright


def validation_crops(images, per_image: int, seed: int = 1234, align: int = 1) -> np.ndarray:
    """A fixed set of crops from held-out images (block plus full context), starting at
    multiples of `align` (see CropSampler)."""
    rng = np.random.default_rng(seed)
    out = []
    for _, img in images:
        for _ in range(per_image):
            y = align * rng.integers(0, (img.shape[0] - CROP_H) // align + 1)
            x = align * rng.integers(0, (img.shape[1] - CROP_W) // align + 1)
            out.append(np.asarray(img[y:y + CROP_H, x:x + CROP_W]))
    return np.stack(out)


def macs_per_block(cfg: arch.Config, latents: bool = True) -> int:
    """What a block costs. Without latents only the trunk's context path and the pixel
    network run (no q/p networks, no z_1 branch in the trunk): what an equal-cost ablation
    must match."""
    if latents:
        return arch.macs_per_block(cfg)["total"]
    total = 0
    for name, g in arch.graphs(cfg).items():
        if name not in PIXEL_NETS:
            continue
        z_ops = {"z0", "z1", "z2", "z3"}
        ops = tuple(dataclasses.replace(op, inputs=tuple(i for i in op.inputs if i[0] not in z_ops))
                    if isinstance(op, arch.Conv) else op
                    for op in g.ops if op.out not in z_ops)
        total += arch.macs(dataclasses.replace(g, ops=ops)) * (4 if name == "head" else 1)
    return total


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float()


@torch.no_grad()
def evaluate(model: ImageModel, crops: np.ndarray, quant: bool, batch: int = 128) -> dict:
    """Mean -ELBO terms in bits/dim (no free-bits slack), fixed noise seed."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    sums: dict[str, float] = {}
    n = len(crops)
    for s in range(0, n, batch):
        x = to_tensor(crops[s:s + batch])
        ones = torch.ones(x.shape[0], dtype=torch.bool)
        _, terms = model(x, ones, ones, quant=quant)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * x.shape[0]
    torch.random.set_rng_state(gen_state)
    return {k: v / n for k, v in sums.items()}


def save(path: Path, model, opt, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"cfg": model.cfg.to_dict(), "model": model.state_dict(),
                "opt": opt.state_dict(), "state": state, "latents": model.latents}, tmp)
    tmp.replace(path)


def train(data: Path, run: Path, hours: float, batch: int, lr: float, free_bits: float,
          cfg: arch.Config, quant: bool, eval_minutes: float, val_per_image: int,
          seed: int = 0, resume_from: Path | None = None, force_dc_base: bool = False,
          threads: int = 2, steps: int | None = None, balance: float = 0.0,
          latents: bool = True, log=print) -> None:
    """Train for `hours`, or until step `steps` if given (the cosine schedule then runs over
    steps: runs of different models are compared at equal steps, as in the depth ablation)."""
    torch.set_num_threads(threads)
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "ckpt.pt"
    state = {"step": 0, "best": math.inf, "history": []}
    source = ckpt if ckpt.exists() else resume_from
    if source is not None:
        blob = torch.load(source, weights_only=False)
        cfg = arch.Config(**{**blob["cfg"], **({"dc_base": True} if force_dc_base else {})})
        model = ImageModel(cfg, latents=blob.get("latents", True))
        model.load_state_dict(blob["model"])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        opt.load_state_dict(blob["opt"])
        state = blob["state"]
        if source != ckpt:     # a new run: its validation set may differ, so its best too
            state = {**state, "best": math.inf}
        log(f"resumed {source} at step {state['step']}")
    else:
        torch.manual_seed(seed)
        model = ImageModel(cfg, latents=latents)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    log(f"config {cfg.to_dict()} latents {model.latents} "
        f"params {sum(p.numel() for p in model.parameters())} "
        f"MACs/block {macs_per_block(cfg, model.latents):,}")
    align = GRID_ALIGN if cfg.grid_pos else 1
    sampler = CropSampler(load_split(data, "train"), seed=seed + state["step"], balance=balance,
                          align=align)
    val = validation_crops(load_split(data, "val"), val_per_image, align=align)
    log(f"validation crops {len(val)}")
    start = time.time()
    budget = hours * 3600.0
    last_eval = start
    first_step = state["step"]
    avg = None
    while True:
        elapsed = time.time() - start
        done = elapsed >= budget or (steps is not None and state["step"] >= steps)
        if done or time.time() - last_eval >= eval_minutes * 60 or state["step"] == first_step:
            model.eval()
            terms = evaluate(model, val, quant)
            model.train()
            rec = {"step": state["step"], "time": round(elapsed), "val": terms,
                   "train_elbo": avg}
            state["history"].append(rec)
            log(json.dumps(rec))
            if terms["elbo"] < state["best"]:
                state["best"] = terms["elbo"]
                save(run / "best.pt", model, opt, state)
            save(ckpt, model, opt, state)
            last_eval = time.time()
        if done:
            break
        frac = min(1.0, state["step"] / steps if steps is not None else elapsed / budget)
        warm = min(1.0, (state["step"] + 1) / 200.0)
        for g in opt.param_groups:
            g["lr"] = lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        crops, top, left, topright = sampler.batch(batch)
        loss, terms = model(to_tensor(crops), torch.from_numpy(top), torch.from_numpy(left),
                            quant=quant, free_bits=free_bits,
                            topright=torch.from_numpy(topright))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        state["step"] += 1
        e = float(terms["elbo"].detach())
        avg = e if avg is None else 0.98 * avg + 0.02 * e
        if state["step"] % 10 == 0:
            log(f"step {state['step']} train -elbo {avg:.4f} bpd "
                f"rec {float(terms['rec']):.3f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{(time.time() - start) / max(1, state['step'] - first_step):.2f} s/step")
