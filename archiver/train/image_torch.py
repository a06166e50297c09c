"""Torch twin of the image model for training, with quantisation-aware fake quantisation.

Every graph of `archiver.models.image.arch` is interpreted here op by op. Weights live in value
space (inputs are real values: pixel a/256, act a/16, latent continuous); each conv's weights are
fake-quantised exactly as the exporter will quantise them (per output channel, over all input
groups after folding each group's input scale), activations are rounded to the int8 grid of 1/16
and clamped. Gradients pass through the roundings (straight-through estimator).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from archiver.models.image import arch
from archiver.models.image.model import ar_inputs as model_ar_inputs

LN2 = math.log(2.0)
KIND_SCALE = {arch.PIXEL: arch.PIXEL_SCALE, arch.ACT: arch.ACT_SCALE, arch.LATENT: 1.0,
              arch.DIFF: arch.DIFF_SCALE}
LATENT_LOG2_SCALE = (-9.0, 5.0)     # clamp of a latent's log2 scale (value units)
PIXEL_NETS = ("trunk", "ar", "head")    # what runs without latents (the latent ablation)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def s2d(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2); channel = plane * C + c, plane = 2*dy + dx."""
    return torch.cat([x[:, :, dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)], dim=1)


def d2s(x: torch.Tensor) -> torch.Tensor:
    b, c4, h, w = x.shape
    c = c4 // 4
    out = x.new_zeros(b, c, 2 * h, 2 * w)
    for p, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        out[:, :, dy::2, dx::2] = x[:, p * c:(p + 1) * c]
    return out


def ar_inputs(crop: torch.Tensor, known: torch.Tensor, r: int):
    """The ar network's inputs for whole blocks, from the runtime's own integer function
    (model.ar_inputs): they are data, not differentiated through. Returns (nbr diff integers,
    flags in act value units, base2) as float tensors."""
    n = arch.BLOCK
    feeds, base2 = model_ar_inputs(crop.detach().to(torch.int64).numpy(),
                                   known.detach().to(torch.int64).numpy(), r, (0, n), (0, n))
    t = lambda a: torch.from_numpy(a).to(crop.dtype)  # noqa: E731
    return t(feeds["nbr"]), t(feeds["flags"]) * arch.ACT_SCALE, t(base2)


class QNet(nn.Module):
    def __init__(self, graph: arch.Graph):
        super().__init__()
        self.graph = graph
        shapes = arch.shape_of(graph)
        kinds = {name: kind for name, kind, _ in graph.inputs}
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.in_scales: dict[str, list[float]] = {}
        for op in graph.ops:
            if isinstance(op, arch.Conv):
                fan_in = sum(shapes[n][0] * k * k for n, k, _ in op.inputs)
                gain = math.sqrt(2.0 / fan_in)
                if op.out.endswith("d") or op.act == "raw":
                    gain *= 0.1          # residual branches and outputs start near zero
                for gi, (n, k, _) in enumerate(op.inputs):
                    w = torch.randn(op.cout, shapes[n][0], k, k) * gain
                    self.weights[f"{op.out}__{gi}"] = nn.Parameter(w)
                self.biases[op.out] = nn.Parameter(torch.zeros(op.cout))
                if graph.name == "ar" and op.act == "raw":
                    with torch.no_grad():
                        self.biases[op.out][3:6] = arch.AR_SCALE_BIAS
                self.in_scales[op.out] = [KIND_SCALE[kinds.get(n, arch.ACT)] for n, _, _ in op.inputs]
                kinds[op.out] = arch.ACT
            elif isinstance(op, arch.Add):
                kinds[op.out] = arch.ACT
            else:
                kinds[op.out] = kinds[op.inp]

    def quantised_weights(self, op: arch.Conv, quant: bool) -> list[torch.Tensor]:
        ws = [self.weights[f"{op.out}__{gi}"] for gi in range(len(op.inputs))]
        if not quant:
            return ws
        scales = self.in_scales[op.out]
        gk = arch.group_classes(self.graph, op)
        us = [w * s for w, s in zip(ws, scales)]
        steps = {}
        for kind in set(gk):      # one integer grid per output channel and weight class
            amax = torch.stack([u.detach().abs().amax(dim=(1, 2, 3))
                                for u, k in zip(us, gk) if k == kind]).amax(0)
            steps[kind] = (amax / arch.class_weight_max(kind)).clamp_min(1e-12).view(-1, 1, 1, 1)
        return [round_ste(u / steps[k]) * steps[k] / s for u, s, k in zip(us, scales, gk)]

    def forward(self, inputs: dict[str, torch.Tensor], quant: bool = True) -> torch.Tensor:
        t = dict(inputs)
        for op in self.graph.ops:
            if isinstance(op, arch.Conv):
                acc = None
                for (n, k, pad), w in zip(op.inputs, self.quantised_weights(op, quant)):
                    y = F.conv2d(t[n], w, padding=(k // 2 if pad == "same" else 0))
                    acc = y if acc is None else acc + y
                acc = acc + self.biases[op.out].view(1, -1, 1, 1)
                if op.act == "raw":
                    t[op.out] = acc
                else:
                    lo = 0 if op.act == "relu" else -arch.ACT_MAX
                    a = acc / arch.ACT_SCALE
                    a = torch.clamp(round_ste(a) if quant else a, lo, arch.ACT_MAX)
                    t[op.out] = a * arch.ACT_SCALE
            elif isinstance(op, arch.Add):
                lim = arch.ACT_MAX * arch.ACT_SCALE
                t[op.out] = torch.clamp(t[op.a] + t[op.b], -lim, lim)
            elif isinstance(op, arch.SpaceToDepth):
                t[op.out] = s2d(t[op.inp])
            elif isinstance(op, arch.DepthToSpace):
                t[op.out] = d2s(t[op.inp])
            elif isinstance(op, arch.Pad):
                tp, bt, lf, rt = op.tblr
                t[op.out] = F.pad(t[op.inp], (lf, rt, tp, bt))
            elif isinstance(op, arch.Crop):
                t[op.out] = t[op.inp][:, :, op.rows[0]:op.rows[1], op.cols[0]:op.cols[1]]
        return t[self.graph.output]


def logistic_logpdf(z, mu, log2s):
    s = torch.exp(log2s * LN2)
    u = (z - mu) / s
    return -u - log2s * LN2 - 2.0 * F.softplus(-u)


def _log_sigmoid_diff(a, b):
    """log(sigmoid(a) - sigmoid(b)) for a > b, stable on the left tail."""
    la, lb = F.logsigmoid(a), F.logsigmoid(b)
    return la + torch.log1p(-torch.exp(lb - la).clamp(max=1 - 1e-7))


def discretized_logistic_logp(x, mu, s, nbins):
    """log P(x) of the coder's family: bin k centred at k, tails folded into 0 and nbins-1."""
    plus = (x + 0.5 - mu) / s
    minus = (x - 0.5 - mu) / s
    right = x >= mu                                    # mirror to stay on the accurate tail
    mid = torch.where(right, _log_sigmoid_diff(-minus, -plus), _log_sigmoid_diff(plus, minus))
    lo = F.logsigmoid(plus)
    hi = F.logsigmoid(-minus)
    out = torch.where(x <= 0, lo, torch.where(x >= nbins - 1, hi, mid))
    return out.clamp(min=-30.0)


def pixel_params(y: torch.Tensor, plane: int, xb: torch.Tensor, quant: bool,
                 base: torch.Tensor | None = None):
    """Head output (B, 36, 16, 16) -> (mu, scale) of plane `plane` in bin units, colour-chained.
    xb is the plane's true pixels (B, 3, 16, 16) in 0..255 (R and G steer G and B); base
    (B, 3, 16, 16) the DC base pixels when the head output is relative to them (arch.dc_base)."""
    p = y[:, plane * arch.PIXEL_PARAMS:(plane + 1) * arch.PIXEL_PARAMS]
    r = round_ste if quant else (lambda v: v)
    if base is None:
        loc = r(256.0 * (128.0 * p[:, 0:3] + 127.5))
    else:
        loc = 256.0 * base + r(256.0 * 128.0 * p[:, 0:3])
    j = torch.clamp(r(16.0 * p[:, 3:6] + 64.0), 0, 127)
    c = torch.clamp(r(256.0 * p[:, 6:9]), -256, 256)
    d = xb - (128.0 if base is None else base)    # colour chain relative to the same reference
    loc_r = loc[:, 0]
    loc_g = loc[:, 1] + c[:, 0] * d[:, 0]
    loc_b = loc[:, 2] + c[:, 1] * d[:, 0] + c[:, 2] * d[:, 1]
    mu = torch.stack([loc_r, loc_g, loc_b], 1) / 256.0
    scale = torch.exp((-4.0 + j / 8.0) * LN2)
    return mu, scale


class ImageModel(nn.Module):
    def __init__(self, cfg: arch.Config, latents: bool = True):
        """latents=False: the ablation without a latent code (benchmarks/image_latent_ablation.py):
        the pixel decoder sees only its context, z_1 is all zeros and no KL is paid, so the
        -ELBO is the plain autoregressive code length. Training only; nothing exports it."""
        super().__init__()
        self.cfg = cfg
        self.latents = latents
        nets = arch.graphs(cfg)
        if not latents:
            nets = {n: g for n, g in nets.items() if n in PIXEL_NETS}
        self.nets = nn.ModuleDict({n: QNet(g) for n, g in nets.items()})
        # the trunk's constant grid input in act value units (MASK_ON is 1.0); not a buffer, so
        # checkpoints hold only what is trained
        self.grid = (torch.tensor(arch.grid_input(), dtype=torch.float32) * arch.ACT_SCALE
                     if cfg.grid_pos else None)

    def latent(self, name: str, z_in: torch.Tensor, quant: bool, key="z"):
        y = self.nets[name]({key: z_in}, quant)
        zc = self.cfg.zc
        return y[:, :zc], (y[:, zc:] - 1.0).clamp(*LATENT_LOG2_SCALE)

    def forward(self, crops: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
                quant: bool = True, free_bits: float = 0.0, topright: torch.Tensor | None = None):
        """crops (B, 3, 40, 48) float 0..255 (block at [8:40, 8:40]; 40x40 crops have no right
        context); top/left/topright (B,) bool context availability (topright defaults to top).
        Returns (loss in bits/dim with free bits, dict of terms in bits/dim without)."""
        cfg = self.cfg
        b = crops.shape[0]
        c0 = arch.CONTEXT
        e = c0 + arch.BLOCK
        if crops.shape[3] == e:
            crops = F.pad(crops, (0, arch.RIGHT))
            topright = torch.zeros_like(top)
        if topright is None:
            topright = top
        dims = 3 * arch.BLOCK * arch.BLOCK
        tf, lf = top.to(crops.dtype).view(b, 1, 1, 1), left.to(crops.dtype).view(b, 1, 1, 1)
        trf = tf * topright.to(crops.dtype).view(b, 1, 1, 1)
        known_full = torch.zeros(b, 1, arch.CROP_H, arch.CROP_W, dtype=crops.dtype)
        known_full[:, :, :c0, c0:e] = tf
        known_full[:, :, c0:, :c0] = lf
        known_full[:, :, :c0, :c0] = tf * lf
        known_full[:, :, :c0, e:] = trf
        known = known_full[:, :, :, :e]                            # context only (block: 0)
        known_full = known_full.clone()
        known_full[:, :, c0:, c0:e] = 1.0
        pix = (2.0 * crops[:, :, :, :e] - 255.0) * arch.PIXEL_SCALE  # pixel values
        full = s2d(pix)                                           # (B, 12, 20, 20)
        known_h = s2d(known)[:, 0:1]                              # (B, 1, 20, 20)
        ctx = full * known_h
        xb = full[:, :, 4:, 4:]                                   # the block's planes
        block = s2d(crops[:, :, c0:e, c0:e])                      # 0..255, (B, 12, 16, 16)

        if self.latents:
            z1, kls = self.latent_chain(xb, quant)
        else:
            z1, kls = torch.zeros(b, cfg.zc, cfg.zs, cfg.zs, dtype=crops.dtype), []
        feeds = {"ctx": ctx, "ctxmask": known_h, "z": z1}
        if self.grid is not None:
            feeds["pos"] = self.grid.to(crops.dtype).expand(b, -1, -1, -1)
        trunk = self.nets["trunk"](feeds, quant)
        if cfg.decoder == "ar":
            rec = self.ar_rec(crops * known_full, known_full, trunk, quant)
        else:
            rec = self.planes_rec(ctx, known_h, xb, block, trunk, quant)
        return self.finish(rec, kls, b, dims, free_bits)

    def latent_chain(self, xb: torch.Tensor, quant: bool):
        """Inference chain and generative latent terms: (z_1 sample, per-layer KL tensors)."""
        cfg = self.cfg
        mu, l2s = self.latent("q1", xb, quant, key="xb")
        kls = []
        zs = []
        z = mu + torch.exp(l2s * LN2) * torch.logit(torch.rand_like(mu).clamp(1e-6, 1 - 1e-6))
        logq = [logistic_logpdf(z, mu, l2s)]
        zs.append(z)
        for i in range(2, cfg.levels + 1):
            mu, l2s = self.latent(f"q{i}", zs[-1], quant)
            z = mu + torch.exp(l2s * LN2) * torch.logit(torch.rand_like(mu).clamp(1e-6, 1 - 1e-6))
            logq.append(logistic_logpdf(z, mu, l2s))
            zs.append(z)
        for i in range(1, cfg.levels):
            mu, l2s = self.latent(f"p{i}", zs[i], quant)
            kls.append(logq[i - 1] - logistic_logpdf(zs[i - 1], mu, l2s))
        kls.append(logq[-1] - logistic_logpdf(zs[-1], torch.zeros_like(zs[-1]),
                                              torch.zeros_like(zs[-1])))
        return zs[0], kls

    def ar_rec(self, crop, known, tfeat, quant: bool):
        """-ln P(x | z_1, context) of the raster-order decoder, all pixels in parallel."""
        nbr, flags, base2 = ar_inputs(crop, known, self.cfg.ar_radius)
        y = self.nets["ar"]({"nbr": nbr * arch.DIFF_SCALE, "flags": flags, "tfeat": tfeat}, quant)
        r = round_ste if quant else (lambda v: v)
        c0 = arch.CONTEXT
        x = crop[:, :, c0:c0 + arch.BLOCK, c0:c0 + arch.BLOCK]
        loc = 128.0 * base2 + r(256.0 * arch.AR_LOC_GAIN * y[:, 0:3])
        j = torch.clamp(r(16.0 * y[:, 3:6] + 64.0), 0, 127)
        c = torch.clamp(r(arch.AR_COEF_GAIN * y[:, 6:9]), -256, 256)
        d = 2.0 * x - base2
        mu = torch.stack([loc[:, 0], loc[:, 1] + c[:, 0] * d[:, 0],
                          loc[:, 2] + c[:, 1] * d[:, 0] + c[:, 2] * d[:, 1]], 1) / 256.0
        scale = torch.exp((-4.0 + j / 8.0) * LN2)
        return -discretized_logistic_logp(x, mu, scale, 256).sum()

    def planes_rec(self, ctx, known_h, xb, block, trunk, quant: bool):
        """-ln P(x | z_1, context) of the four-pass sub-lattice decoder."""
        cfg = self.cfg
        b = ctx.shape[0]
        ring_known = F.pad(known_h[:, :, 3:, 3:], (0, 1, 0, 1))   # (B,1,18,18)
        ring_ctx = F.pad(ctx[:, :, 3:, 3:], (0, 1, 0, 1))
        rec = torch.zeros((), dtype=ctx.dtype)
        decoded = torch.zeros(b, 4, 1, 1, dtype=ctx.dtype)
        block_pad = F.pad(xb, (1, 1, 1, 1))                       # block planes on the ring grid
        inner = torch.zeros(1, 1, 18, 18, dtype=ctx.dtype)
        inner[:, :, 1:17, 1:17] = 1.0
        for plane in arch.PASS_ORDER:
            dmask = decoded.repeat_interleave(3, dim=1)           # (B, 12, 1, 1)
            planes = ring_ctx + block_pad * inner * dmask
            knownm = ring_known * (1 - inner) + inner * decoded
            y = self.nets["head"]({"trunk": trunk, "planes": planes, "known": knownm}, quant)
            target = block[:, plane * 3:(plane + 1) * 3]
            base = None
            if cfg.dc_base and plane != arch.DC_BASE_PLANE:
                # skip applied to (pixel - base): subtract (sum of skip weights) * base value
                head = self.nets["head"]
                out_op = head.graph.convs()[-1]
                wsum = head.quantised_weights(out_op, quant)[1].sum(dim=(1, 2, 3))
                o = plane * arch.PIXEL_PARAMS
                b0 = arch.DC_BASE_PLANE * 3
                v_base = xb[:, b0:b0 + 3]
                y = y.clone()
                y[:, o:o + 3] = y[:, o:o + 3] - wsum[o:o + 3].view(1, 3, 1, 1) * v_base
                base = block[:, b0:b0 + 3]
            mu_x, s_x = pixel_params(y, plane, target, quant, base)
            rec = rec - discretized_logistic_logp(target, mu_x, s_x, 256).sum()
            decoded = decoded.clone()
            decoded[:, plane] = 1.0
        return rec

    @staticmethod
    def finish(rec, kls, b: int, dims: int, free_bits: float):
        """(loss, terms) in bits/dim from the reconstruction and per-layer KL tensors of a
        batch of b blocks of dims subpixels."""
        kl_terms = [k.sum() for k in kls]
        to_bpd = 1.0 / (b * dims * LN2)
        terms = {"rec": rec * to_bpd}
        for i, k in enumerate(kl_terms):
            terms[f"kl{i + 1}"] = k * to_bpd
        terms["elbo"] = sum(terms.values())
        if free_bits > 0:
            fb = free_bits * LN2   # bits per latent dim -> nats
            kl_loss = 0.0
            for k in kls:
                per_ch = k.mean(dim=(0, 2, 3))                     # nats per dim, per channel
                kl_loss = kl_loss + torch.clamp(per_ch, min=fb).sum() * k.shape[2] * k.shape[3] * b
            loss = (rec + kl_loss) * to_bpd
        else:
            loss = terms["elbo"]
        return loss, terms
