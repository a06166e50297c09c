"""Code length of blocks under the integer model: the discretised -ELBO that bits-back coding
achieves (up to the one-off cost of the initial bits), computed from the coder's exact
frequencies with archiver.entropy.logistic_codelength.

  bits = -log P(x | z_1) - sum_i log P(z_i | z_{i+1}) - log P(z_L) + sum_i log Q(z_i | ...)

z is one sample of the (discretised) posterior chain. Sampling uses a seeded float generator:
it only picks which z is measured, exactly as popping z from the message would.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archiver.entropy import logistic_codelength
from archiver.models.image import arch
from archiver.models.image.model import (LATENT_PRECISION, PIXEL_PRECISION, BlockInputs,
                                         ImageRuntime, Params)


@dataclass
class Bits:
    pixels: float
    prior: float          # -log P of the latents under the generative model
    posterior: float      # -log Q of the latents (given back by bits-back)

    @property
    def total(self) -> float:
        return self.pixels + self.prior - self.posterior


def sample_bins(p: Params, rng: np.random.Generator) -> np.ndarray:
    """A bin index drawn (approximately) from the discretised logistic p."""
    u = rng.random(p.loc.shape).clip(1e-9, 1 - 1e-9)
    scale = 2.0 ** (-4.0 + p.scale_idx / 8.0)
    z = p.loc / 256.0 + scale * np.log(u / (1.0 - u))
    return np.clip(np.rint(z), 0, arch.LATENT_BINS - 1).astype(np.int64)


def _cl(symbols, p: Params, nbins: int, precision: int) -> float:
    return logistic_codelength(symbols, p.loc, p.scale_idx, nbins, precision)


def block_bits(rt: ImageRuntime, inp: BlockInputs, rng: np.random.Generator) -> Bits:
    levels = rt.cfg.levels
    zs, qbits = [], 0.0
    q = rt.q1(inp)
    for i in range(1, levels + 1):
        if i > 1:
            q = rt.q_next(i - 1, zs[-1])
        z = sample_bins(q, rng)
        qbits += _cl(z, q, arch.LATENT_BINS, LATENT_PRECISION)
        zs.append(z)
    pbits = _cl(zs[-1], rt.p_top(zs[-1].shape), arch.LATENT_BINS, LATENT_PRECISION)
    for i in range(1, levels):
        pbits += _cl(zs[i - 1], rt.p_prev(i, zs[i]), arch.LATENT_BINS, LATENT_PRECISION)
    trunk = rt.trunk(inp, zs[0])
    if rt.cfg.decoder == "ar":
        y, base2 = rt.ar_raw(inp, trunk)
        x = inp.pixels()
        return Bits(_cl(x, rt.ar_params(y, base2, x), 256, PIXEL_PRECISION), pbits, qbits)
    xbits = 0.0
    decoded: list[int] = []
    for plane in arch.PASS_ORDER:
        y = rt.head(inp, trunk, decoded, plane)
        x = inp.block[:, 3 * plane:3 * plane + 3]
        xbits += _cl(x, rt.plane_params(y, x, rt.chain_ref(inp, plane)), 256, PIXEL_PRECISION)
        decoded.append(plane)
    return Bits(xbits, pbits, qbits)
