"""Grow a trained image model into a larger configuration without changing what it computes.

Training a larger model from scratch on two cores takes days; growing the shipped one takes
seconds and its new capacity is trained from where the old model stands (Net2Net-style).
Every tensor of the old model keeps its values; what is new is set so that the grown model's
outputs equal the old model's, bit for bit under fake quantisation:
  - a new output channel of a conv gets the fresh model's random weights (it computes
    something), and every old output channel reads it with weight 0 (nobody uses it yet);
  - a new residual block's last conv ("...d") is all zeros, so the block is the identity;
  - a new input of a conv (grid_pos) is read with weight 0;
  - a conv feeding a DepthToSpace lays channel c of phase p at p * C + c, so its old rows are
    moved to the new C.
Per-output-channel weight scales see only zeros added, so quantised old weights are unchanged.
The optimiser's moments are carried over the same way (zeros where new), so training resumes
with the old model's Adam state. Gradients reach the new channels through the old channels'
zero weights on them.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from archiver.models.image import arch
from archiver.train.image_torch import ImageModel


def _d2s_convs(graph: arch.Graph) -> set[str]:
    return {op.inp for op in graph.ops if isinstance(op, arch.DepthToSpace)}


def _row_map(old_rows: int, new_rows: int, d2s: bool) -> torch.Tensor:
    """New row index of each old output row."""
    if not d2s:
        return torch.arange(old_rows)
    c_old, c_new = old_rows // 4, new_rows // 4
    return torch.tensor([p * c_new + c for p in range(4) for c in range(c_old)])


def _embed(dst: torch.Tensor, src: torch.Tensor, rows: torch.Tensor) -> None:
    """Put an old tensor (weights or an Adam moment) into its grown place: its rows at `rows`,
    its input columns first; what the old rows read from new inputs is 0."""
    if dst.dim() == 1:
        dst[rows] = src
    else:
        dst[rows] = 0.0
        dst[rows, :src.shape[1]] = src


def grow(old_model: ImageModel, cfg: arch.Config, seed: int = 0) -> tuple[ImageModel, dict]:
    """(grown model, {parameter name: new row of each old row} for moving optimiser state)."""
    torch.manual_seed(seed)
    new = ImageModel(cfg, latents=old_model.latents)
    old_params = dict(old_model.named_parameters())
    new_params = dict(new.named_parameters())
    placement = {}
    with torch.no_grad():
        for net_name, qnet in new.nets.items():
            d2s = _d2s_convs(qnet.graph)
            for op in qnet.graph.convs():
                n_groups = len(op.inputs)
                keys = [f"weights.{op.out}__{gi}" for gi in range(n_groups)]
                for key in keys + [f"biases.{op.out}"]:
                    full = f"nets.{net_name}.{key}"
                    p = new_params[full]
                    old = old_params.get(full)
                    if old is None:
                        # a new residual branch is the identity; a new input group of an
                        # existing conv is read with weight 0
                        if op.out.endswith("d") or (
                                key.startswith("weights.")
                                and f"nets.{net_name}.weights.{op.out}__0" in old_params):
                            p.zero_()
                        continue
                    if old.dim() != p.dim() or any(o > n for o, n in zip(old.shape, p.shape)):
                        raise ValueError(f"{full}: cannot grow {tuple(old.shape)} into "
                                         f"{tuple(p.shape)}: a model can only get wider")
                    rows = _row_map(old.shape[0], p.shape[0], op.out in d2s)
                    _embed(p, old, rows)
                    placement[full] = rows
    return new, placement


def grow_checkpoint(src: Path, dst: Path, **changes) -> arch.Config:
    """Write a resumable training checkpoint of `src` grown by Config `changes`."""
    blob = torch.load(src, weights_only=False)
    old_cfg = arch.Config(**blob["cfg"])
    old = ImageModel(old_cfg, latents=blob.get("latents", True))
    old.load_state_dict(blob["model"])
    cfg = dataclasses.replace(old_cfg, **changes)
    new, placement = grow(old, cfg)
    old_opt = torch.optim.Adam(old.parameters())
    old_opt.load_state_dict(blob["opt"])
    new_opt = torch.optim.Adam(new.parameters(), lr=old_opt.param_groups[0]["lr"])
    old_by_name = dict(old.named_parameters())
    for name, p in new.named_parameters():
        st = old_opt.state.get(old_by_name[name]) if name in old_by_name else None
        if st is None:
            continue
        moved = {}
        for k, v in st.items():
            if k == "step":
                moved[k] = v.clone()
            else:
                moved[k] = torch.zeros_like(p)
                _embed(moved[k], v, placement[name])
        new_opt.state[p] = moved
    state = {**blob["state"], "best": float("inf"), "grown_from": str(src)}
    torch.save({"cfg": cfg.to_dict(), "model": new.state_dict(), "opt": new_opt.state_dict(),
                "state": state, "latents": new.latents}, dst)
    return cfg
