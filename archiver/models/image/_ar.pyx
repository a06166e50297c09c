# distutils: sources = archiver/models/image/ar_core.c cython_ans/rans_core.c
# distutils: include_dirs = cython_ans archiver/models/image
# distutils: depends = archiver/models/image/ar_core.h archiver/models/image/ar_eval.h cython_ans/rans_core.h
"""The image model's raster-order pixel decoder in C (ar_core.c), for Config(decoder="ar").

Decoding must evaluate the per-pixel network (arch.ar_net) one pixel at a time, since a pixel's
inputs are the pixels popped just before it; numpy pays ~0.3-1 ms of overhead per such step.
This kernel runs the whole loop in C without the GIL: per pixel, the network for every block of
the batch (optionally split between two threads), then the pops, on the same Message and in the
same order as bitswap's numpy loop (pixels in raster order, R G B within a pixel, blocks within
a colour), with the same integers as runtime.GraphRunner (see ar_core.h).

    kernel = ArKernel(weights)                 # packs weights.convs["ar"] once
    kernel.decode(msg, crop, known, tfeat)     # fills crop[:, :, 8:40, 8:40] in place
    y, base2 = kernel.raw(crop, known, tfeat)  # all pixels of known blocks (as ar_raw)
"""

import numpy as np

cimport cython
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free

from cython_ans._rans cimport Message
from cython_ans.rans cimport rans_msg

from archiver.models.image import arch
from archiver.models.image.model import LOC_LIMIT, PIXEL_PRECISION, SCALE_MAX


cdef extern from "ar_core.h" nogil:
    enum:
        AR_MAX_SEGS
        AR_MAX_CLASSES
        AR_MAX_COUT
        AR_PARAMS
        AR_CONV
        AR_ADD
        AR_RELU
        AR_LINEAR
        AR_RAW
        AR_CTX
        AR_BLOCK
        AR_CROP_H
        AR_CROP_W
    ctypedef struct ar_class:
        int32_t nseg
        int32_t seg_off[4]
        int32_t seg_len[4]
        int32_t kp
        int32_t wide
        int32_t m32
        const int16_t *w
        const int16_t *wt
        const int64_t *m
    ctypedef struct ar_op:
        int32_t type, act, out, cout, coutp, a, b, ncls
        ar_class cls[4]
        const int64_t *bias
    ctypedef struct ar_net:
        int32_t nops
        const ar_op *ops
        int32_t noff
        const int32_t *off
        int32_t radius, nbr, flags, tfeat, ntfeat, slots, kmax, cmax, shift, mask_on
        int32_t scale_max, coef_max
        int64_t loc_limit
        int32_t adapt, adapt_shift, adapt_buckets
        int64_t adapt_prior, adapt_clip
        int32_t adapt_dmax
        const int64_t *adapt_mad
        const int64_t *adapt_steps
        int32_t xadapt, xbins, xjshift, xjbuckets, nxsteps
        const int64_t *xsteps
        const int64_t *xtable
        int32_t creg
        int64_t creg_clip, creg_prior
        int32_t sreg
        int64_t sreg_clip, sreg_prior
        int32_t tail_mask
    int ar_decode(const ar_net *net, rans_msg *m, int64_t nblocks, int16_t *pix,
                  const uint8_t *known, const int16_t *tfeat, unsigned precision, int threads,
                  int simd, const int32_t *extent, int channels, const uint8_t *lattice)
    int ar_raw_all(const ar_net *net, int64_t nblocks, const int16_t *pix,
                   const uint8_t *known, const int16_t *tfeat, int64_t *y, int64_t *base2,
                   int threads, int simd)
    int64_t ar_push_params(const ar_net *n, int64_t nblocks, const int16_t *pix,
                           const uint8_t *known, const int16_t *tfeat, const int32_t *extent,
                           int channels, int threads, int simd, int64_t *sym, int32_t *loc,
                           int32_t *scale)
    void ar_adapt_all(const ar_net *net, int64_t nblocks, const int64_t *x,
                      const int64_t *loc, const int64_t *j, const uint8_t *coded, int64_t *out)
    void ar_regress_all(const ar_net *net, int64_t nblocks, const int64_t *x,
                        const int64_t *loc, const int64_t *j, const uint8_t *coded,
                        int64_t *out)
    void ar_spatial_all(const ar_net *net, int64_t nblocks, const int64_t *x,
                        const int64_t *loc, const int64_t *j, const uint8_t *coded,
                        int64_t *out)
    int ar_have_simd()


SIMD_LEVEL = ar_have_simd()       # 2 AVX-512 VNNI, 1 AVX2, 0 plain C only
HAVE_SIMD = SIMD_LEVEL > 0
INT32_EXACT = (1 << 31) - 1       # int32 accumulators are exact while partial sums stay below
_ACTS = {"relu": AR_RELU, "linear": AR_LINEAR, "raw": AR_RAW}


class ArKernelError(ValueError):
    """The image weights' ar network has a shape this kernel does not run."""


def _plan(weights):
    """The ar network as ranges ("slots") of one int16 vector per pixel and packed weight
    classes: (ops as dicts, vector length, slot offset and channels of every tensor). Raises
    ArKernelError for graphs the kernel cannot run."""
    g = weights.graphs["ar"]
    params = weights.convs["ar"]
    kinds = arch.tensor_kinds(g)
    slot, chans = {}, {}
    n = 0
    for name, kind, (c, h, w) in g.inputs:
        if kind not in (arch.DIFF, arch.ACT) or (h, w) != (arch.BLOCK, arch.BLOCK):
            raise ArKernelError(f"ar input {name!r} ({kind}, {h}x{w}) is not per-pixel")
        slot[name], chans[name] = n, c
        n += c
    if set(slot) != {"nbr", "flags", "tfeat"}:
        raise ArKernelError(f"ar inputs are {sorted(slot)}, expected nbr, flags, tfeat")
    ops = []
    for i, op in enumerate(g.ops):
        last = i == len(g.ops) - 1
        if isinstance(op, arch.Add):
            if chans[op.a] != chans[op.b]:
                raise ArKernelError(f"ar.{op.out}: operands differ in channels")
            slot[op.out], chans[op.out] = n, chans[op.a]
            n += chans[op.a]
            ops.append(dict(type=AR_ADD, act=AR_LINEAR, out=slot[op.out], cout=chans[op.a],
                            coutp=chans[op.a], a=slot[op.a], b=slot[op.b], cls=[], bias=None))
            continue
        if not isinstance(op, arch.Conv):
            raise ArKernelError(f"ar op {type(op).__name__} is not supported (1x1 convs and "
                                "adds only)")
        if op.act not in _ACTS:
            raise ArKernelError(f"ar.{op.out}: activation {op.act!r} is not supported")
        if any(k != 1 for _, k, _ in op.inputs):
            raise ArKernelError(f"ar.{op.out}: only 1x1 convolutions run per pixel")
        if (op.act == "raw") != last or (last and (op.out != g.output or op.cout != AR_PARAMS)):
            raise ArKernelError(f"ar.{op.out}: the raw conv with {AR_PARAMS} outputs must be "
                                "the last op")
        if op.cout > AR_MAX_COUT:
            raise ArKernelError(f"ar.{op.out}: {op.cout} channels exceed {AR_MAX_COUT}")
        p = params[op.out]
        classes = {}
        for gi, cls in enumerate(arch.group_classes(g, op)):
            classes.setdefault(cls, []).append(gi)
        if len(classes) > AR_MAX_CLASSES or any(len(v) > AR_MAX_SEGS for v in classes.values()):
            raise ArKernelError(f"ar.{op.out}: too many input groups")
        coutp = -(-op.cout // 16) * 16
        cls_plans = []
        for cls, gis in classes.items():
            names = [op.inputs[gi][0] for gi in gis]
            w = np.concatenate([np.asarray(p.ws[gi], np.int64)[:, :, 0, 0] for gi in gis], 1)
            if np.abs(w).max(initial=0) > 32767:
                raise ArKernelError(f"ar.{op.out}: weights exceed int16")
            xmax = np.concatenate([np.full(chans[nm], arch.KIND_MAX[kinds[nm]], np.int64)
                                   for nm in names])
            bound = int((np.abs(w) * xmax).sum(1).max(initial=0))
            k = w.shape[1]
            kp = k + (k & 1)
            wp = np.zeros((coutp, kp), np.int64)
            wp[:op.cout, :k] = w
            packed = np.ascontiguousarray(
                wp.T.reshape(kp // 2, 2, coutp).transpose(0, 2, 1), np.int16)
            m = np.zeros(coutp, np.int64)
            m[:op.cout] = p.m[gis[0]]
            cls_plans.append(dict(seg_off=[slot[nm] for nm in names],
                                  seg_len=[chans[nm] for nm in names], kp=kp,
                                  wide=bound > INT32_EXACT, m32=np.abs(m).max() <= INT32_EXACT,
                                  w=packed, wt=np.ascontiguousarray(wp.T, np.int16), m=m))
        out = -1
        if not last:
            slot[op.out], chans[op.out] = n, op.cout
            out = n
            n += op.cout
        bias = np.zeros(coutp, np.int64)
        bias[:op.cout] = p.b
        ops.append(dict(type=AR_CONV, act=_ACTS[op.act], out=out, cout=op.cout, coutp=coutp,
                        a=0, b=0, cls=cls_plans, bias=bias))
    if not ops or ops[len(ops) - 1]["act"] != AR_RAW:
        raise ArKernelError("ar network has no raw output conv")
    if max(arch.KIND_MAX[kinds[nm]] for nm in slot) > 1023:
        raise ArKernelError("ar tensors exceed the int16 range the kernel assumes")
    return ops, n, slot, chans


def _threads(threads):
    """1 unless asked for 2. Measured (benchmarks/bench_image_decode.py): on a shared machine
    the second thread saves no wall time and costs ~20% more CPU; parallelism across chunks
    (one decoder per worker thread, the GIL is released) uses two cores better."""
    if threads not in (1, 2):
        raise ValueError(f"threads must be 1 or 2, got {threads!r}")
    return threads


cdef class ArKernel:
    """Packed ar network of one ImageWeights; decode() and raw() run it in C."""
    cdef ar_net net
    cdef ar_op *ops
    cdef object keep            # the numpy arrays the C structs point into
    cdef readonly int radius, ntfeat, nbr_channels

    def __cinit__(self):
        self.ops = NULL

    def __init__(self, weights):
        cfg = weights.cfg
        if cfg.decoder != "ar":
            raise ArKernelError(f"image weights use decoder {cfg.decoder!r}, not 'ar'")
        r = int(cfg.ar_radius)
        if not 1 <= r <= arch.CONTEXT:
            raise ArKernelError(f"ar_radius {r} is outside 1..{arch.CONTEXT} (the crop's "
                                "context)")
        plan, slots, slot, chans = _plan(weights)
        offs = np.ascontiguousarray(arch.ar_offsets(r), np.int32).reshape(-1, 2)
        rows = [(dy, dx) for dy in range(-r, 1) for dx in range(-r, r + 1) if dy < 0 or dx < 0]
        if [tuple(d) for d in offs.tolist()] != rows:
            raise ArKernelError("ar neighbourhood is not r rows of 2r + 1 pixels then r pixels "
                                "(the kernel's gather reads it as such runs)")
        if chans["nbr"] != 3 * offs.shape[0] or chans["flags"] != arch.AR_FLAGS:
            raise ArKernelError("ar inputs do not match the neighbourhood of ar_radius")
        self.keep = [offs]
        self.ops = <ar_op *>calloc(len(plan), sizeof(ar_op))
        if self.ops == NULL:
            raise MemoryError()
        cdef ar_op *o
        cdef ar_class *c
        cdef int16_t[:, :, ::1] wv
        cdef int16_t[:, ::1] wtv
        cdef int64_t[::1] mv
        cdef int64_t[::1] bv
        cdef int32_t[:, ::1] ov = offs
        cdef const int64_t[::1] madv
        cdef const int64_t[::1] stepv
        cdef const int64_t[::1] xstepv
        cdef const int64_t[::1] xtabv
        kmax = cmax = 2
        for i, d in enumerate(plan):
            o = &self.ops[i]
            o.type, o.act, o.out = d["type"], d["act"], d["out"]
            o.cout, o.coutp = d["cout"], d["coutp"]
            o.a, o.b, o.ncls = d["a"], d["b"], len(d["cls"])
            cmax = max(cmax, d["coutp"])
            if d["bias"] is not None:
                bv = d["bias"]
                self.keep.append(d["bias"])
                o.bias = &bv[0]
            for ci, cd in enumerate(d["cls"]):
                c = &o.cls[ci]
                c.nseg = len(cd["seg_off"])
                for s in range(c.nseg):
                    c.seg_off[s] = cd["seg_off"][s]
                    c.seg_len[s] = cd["seg_len"][s]
                c.kp, c.wide, c.m32 = cd["kp"], cd["wide"], cd["m32"]
                kmax = max(kmax, cd["kp"])
                wv = cd["w"]
                wtv = cd["wt"]
                mv = cd["m"]
                self.keep += [cd["w"], cd["wt"], cd["m"]]
                c.w = &wv[0, 0, 0]
                c.wt = &wtv[0, 0]
                c.m = &mv[0]
        self.net.nops = len(plan)
        self.net.ops = self.ops
        self.net.noff = offs.shape[0]
        self.net.off = &ov[0, 0]
        self.net.radius = r
        self.net.nbr, self.net.flags, self.net.tfeat = slot["nbr"], slot["flags"], slot["tfeat"]
        self.net.ntfeat = chans["tfeat"]
        self.net.slots = slots
        self.net.kmax, self.net.cmax = kmax, cmax
        self.net.shift = int(weights.shift)
        self.net.mask_on = arch.MASK_ON
        self.net.scale_max, self.net.coef_max = SCALE_MAX, 256
        self.net.loc_limit = LOC_LIMIT
        adapt = int(getattr(cfg, "scale_adapt", 0))
        if adapt not in (0, 1, 2):
            raise ArKernelError(f"scale_adapt {adapt} is not a known adaptation (0, 1 or 2)")
        mad = np.ascontiguousarray(arch.ADAPT_MAD, np.int64)
        steps = np.ascontiguousarray(arch.ADAPT_STEPS, np.int64)
        if mad.shape[0] != SCALE_MAX + 1 or steps.shape[0] != 2 * arch.ADAPT_DMAX:
            raise ArKernelError("scale adaptation tables do not match SCALE_MAX / ADAPT_DMAX")
        self.keep += [mad, steps]
        madv = mad
        stepv = steps
        self.net.adapt = 1 if adapt else 0
        xsteps = np.ascontiguousarray(arch.XADAPT_STEPS, np.int64)
        xtab = np.ascontiguousarray(arch.XADAPT_TABLE, np.int64)
        if xtab.shape[0] != 3 * arch.XADAPT_BINS * arch.XADAPT_JBUCKETS or \
                xsteps.shape[0] != arch.XADAPT_BINS - 2 or \
                arch.XADAPT_JBUCKETS << arch.XADAPT_JSHIFT != SCALE_MAX + 1:
            raise ArKernelError("cross-colour adaptation tables do not match XADAPT_BINS")
        self.keep += [xsteps, xtab]
        xstepv = xsteps
        xtabv = xtab
        self.net.xadapt = 1 if adapt == 2 else 0
        self.net.xbins, self.net.xjshift = arch.XADAPT_BINS, arch.XADAPT_JSHIFT
        self.net.xjbuckets, self.net.nxsteps = arch.XADAPT_JBUCKETS, arch.XADAPT_BINS - 2
        self.net.xsteps = &xstepv[0]
        self.net.xtable = &xtabv[0]
        creg = int(getattr(cfg, "colour_adapt", 0))
        if creg not in (0, 1):
            raise ArKernelError(f"colour_adapt {creg} is not a known regression (0 or 1)")
        self.net.creg = creg
        self.net.creg_clip, self.net.creg_prior = arch.CREG_CLIP, arch.CREG_PRIOR
        sreg = int(getattr(cfg, "spatial_adapt", 0))
        if sreg not in (0, 1):
            raise ArKernelError(f"spatial_adapt {sreg} is not a known regression (0 or 1)")
        self.net.sreg = sreg
        self.net.sreg_clip, self.net.sreg_prior = arch.SREG_CLIP, arch.SREG_PRIOR
        tail = int(getattr(cfg, "tail", 0))
        if tail not in (0, 1):
            raise ArKernelError(f"tail {tail} is not a known pixel family (0 or 1)")
        self.net.tail_mask = arch.TAIL_MASK if tail else 0
        self.net.adapt_shift = arch.ADAPT_BUCKET_SHIFT
        self.net.adapt_buckets = (SCALE_MAX + 1) >> arch.ADAPT_BUCKET_SHIFT
        self.net.adapt_prior, self.net.adapt_clip = arch.ADAPT_PRIOR, arch.ADAPT_CLIP
        self.net.adapt_dmax = arch.ADAPT_DMAX
        self.net.adapt_mad = &madv[0]
        self.net.adapt_steps = &stepv[0]
        self.radius, self.ntfeat, self.nbr_channels = r, chans["tfeat"], chans["nbr"]

    def __dealloc__(self):
        free(self.ops)

    def _inputs(self, where, crop, known, tfeat):
        """Validated C layouts: pixels (B, 40, 48, 3) int16, known (B, 40, 48) uint8, trunk
        features (B, 32, 32, tfeat) int16."""
        crop = np.asarray(crop)
        b = crop.shape[0] if crop.ndim == 4 else -1
        if crop.shape != (b, 3, AR_CROP_H, AR_CROP_W) or b < 1:
            raise ValueError(f"{where}: crop must be (B, 3, {AR_CROP_H}, {AR_CROP_W}), got "
                             f"{crop.shape}")
        known = np.asarray(known)
        tfeat = np.asarray(tfeat)
        if known.shape != (b, 1, AR_CROP_H, AR_CROP_W):
            raise ValueError(f"{where}: known must be ({b}, 1, {AR_CROP_H}, {AR_CROP_W}), got "
                             f"{known.shape}")
        if tfeat.shape != (b, self.ntfeat, AR_BLOCK, AR_BLOCK):
            raise ValueError(f"{where}: tfeat must be ({b}, {self.ntfeat}, {AR_BLOCK}, "
                             f"{AR_BLOCK}), got {tfeat.shape}")
        for name, a, lo, hi in (("crop", crop, 0, 255), ("known", known, 0, 1),
                                ("tfeat", tfeat, -arch.ACT_MAX, arch.ACT_MAX)):
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{where}: {name} must hold integers, got {a.dtype}")
            if a.size and (a.min() < lo or a.max() > hi):
                raise ValueError(f"{where}: {name} values must lie in {lo}..{hi}")
        pix = np.ascontiguousarray(crop.transpose(0, 2, 3, 1), np.int16)
        kn = np.ascontiguousarray(known[:, 0], np.uint8)
        tf = np.ascontiguousarray(tfeat.transpose(0, 2, 3, 1), np.int16)
        return b, pix, kn, tf

    def decode(self, msg, crop, known, tfeat, threads=1, simd=None, extent=None, channels=3,
               lattice=None):
        """Pop the pixels of B blocks from msg (a cython_ans.Message) into crop[:, :, 8:40,
        8:40] (crop (B, 3, 40, 48) integer, modified in place), exactly as bitswap's numpy
        loop. known (B, 1, 40, 48) in {0, 1}, tfeat (B, tfeat, 32, 32) the trunk features.
        threads: 2 splits each pixel's network over the blocks between two threads (the
        pops stay on one); simd: 0 plain C, 1 AVX2, 2 AVX-512 VNNI (at most SIMD_LEVEL, default
        the best; all give the same integers).
        extent (B, 2) (h, w) in 1..32 per block: only pixels y < h, x < w are popped, the rest
        (an image's edge padding) copy the nearest popped pixel of their block; channels
        (1..3): colours popped per pixel, the others copy colour 0 (grey). lattice: None, or
        the (65536, 32) uint8 masks of lattice.masks(): B popped among the values its
        pixel's R and G allow (3 channels only)."""
        if not isinstance(msg, Message):
            raise TypeError(f"decode: msg must be a cython_ans.Message, got {type(msg).__name__}")
        if not isinstance(crop, np.ndarray) or not crop.flags.writeable:
            raise ValueError("decode: crop must be a writeable numpy array (decoded in place)")
        b, pix, kn, tf = self._inputs("decode", crop, known, tfeat)
        cdef Message m = msg
        cdef int16_t[:, :, :, ::1] pv = pix
        cdef const uint8_t[:, :, ::1] kv = kn
        cdef const int16_t[:, :, :, ::1] tv = tf
        cdef int64_t nb = b
        cdef int nthreads = _threads(threads)
        cdef int use_simd = SIMD_LEVEL if simd is None else min(int(simd), SIMD_LEVEL)
        cdef unsigned prec = PIXEL_PRECISION
        cdef int err
        if channels not in (1, 2, 3):
            raise ValueError(f"decode: channels must be 1, 2 or 3, got {channels!r}")
        cdef int nch = channels
        cdef const int32_t[:, ::1] ev
        cdef const int32_t *ep = NULL
        if extent is not None:
            ext = np.ascontiguousarray(extent, np.int32)
            if ext.shape != (b, 2) or ext.min() < 1 or ext.max() > AR_BLOCK:
                raise ValueError(f"decode: extent must be ({b}, 2) with values 1..{AR_BLOCK}")
            ev = ext
            ep = &ev[0, 0]
        cdef const uint8_t[:, ::1] lv
        cdef const uint8_t *lp = NULL
        if lattice is not None:
            lat = np.ascontiguousarray(lattice, np.uint8)
            if lat.shape != (65536, 32) or channels != 3:
                raise ValueError("decode: lattice must be (65536, 32) uint8 masks, with 3 "
                                 "channels")
            lv = lat
            lp = &lv[0, 0]
        with nogil:
            err = ar_decode(&self.net, &m.m, nb, &pv[0, 0, 0, 0], &kv[0, 0, 0], &tv[0, 0, 0, 0],
                            prec, nthreads, use_simd, ep, nch, lp)
        if err:
            raise MemoryError(f"decode: out of memory for {b} blocks")
        c, e = AR_CTX, AR_CTX + AR_BLOCK
        crop[:, :, c:e, c:e] = pix[:, c:e, c:e, :].transpose(0, 3, 1, 2)

    def raw(self, crop, known, tfeat, threads=1, simd=None):
        """Raw network outputs (B, 9, 32, 32) and base2 (B, 3, 32, 32), int64, for every pixel
        of fully known blocks: the integers of ImageRuntime.ar_raw (what the encoder needs).
        threads: 2 gives each thread half of the blocks; simd as for decode."""
        b, pix, kn, tf = self._inputs("raw", crop, known, tfeat)
        y = np.empty((b, AR_BLOCK, AR_BLOCK, AR_PARAMS), np.int64)
        base2 = np.empty((b, AR_BLOCK, AR_BLOCK, 3), np.int64)
        cdef const int16_t[:, :, :, ::1] pv = pix
        cdef const uint8_t[:, :, ::1] kv = kn
        cdef const int16_t[:, :, :, ::1] tv = tf
        cdef int64_t[:, :, :, ::1] yv = y
        cdef int64_t[:, :, :, ::1] bv = base2
        cdef int64_t nb = b
        cdef int nthreads = _threads(threads)
        cdef int use_simd = SIMD_LEVEL if simd is None else min(int(simd), SIMD_LEVEL)
        cdef int err
        with nogil:
            err = ar_raw_all(&self.net, nb, &pv[0, 0, 0, 0], &kv[0, 0, 0], &tv[0, 0, 0, 0],
                             &yv[0, 0, 0, 0], &bv[0, 0, 0, 0], nthreads, use_simd)
        if err:
            raise MemoryError(f"raw: out of memory for {b} blocks")
        return y.transpose(0, 3, 1, 2), base2.transpose(0, 3, 1, 2)

    def push_params(self, crop, known, tfeat, extent=None, channels=3, threads=1, simd=None):
        """What the encoder pushes for fully known blocks, in the order decode() pops it:
        (symbols int64, locations int32, scale indices int32), only pixels inside extent
        ((B, 2) (h, w), default all) and colours < channels; the integers of
        ImageRuntime.ar_params (scales adapted under Config.scale_adapt) and of decode()."""
        b, pix, kn, tf = self._inputs("push_params", crop, known, tfeat)
        if channels not in (1, 2, 3):
            raise ValueError(f"push_params: channels must be 1, 2 or 3, got {channels!r}")
        cdef const int32_t[:, ::1] ev
        cdef const int32_t *ep = NULL
        if extent is not None:
            ext = np.ascontiguousarray(extent, np.int32)
            if ext.shape != (b, 2) or ext.min() < 1 or ext.max() > AR_BLOCK:
                raise ValueError(f"push_params: extent must be ({b}, 2) with values "
                                 f"1..{AR_BLOCK}")
            ev = ext
            ep = &ev[0, 0]
        n = b * 3 * AR_BLOCK * AR_BLOCK
        sym = np.empty(n, np.int64)
        loc = np.empty(n, np.int32)
        scale = np.empty(n, np.int32)
        cdef const int16_t[:, :, :, ::1] pv = pix
        cdef const uint8_t[:, :, ::1] kv = kn
        cdef const int16_t[:, :, :, ::1] tv = tf
        cdef int64_t[::1] sv = sym
        cdef int32_t[::1] lv = loc
        cdef int32_t[::1] jv = scale
        cdef int64_t nb = b
        cdef int nch = channels
        cdef int nthreads = _threads(threads)
        cdef int use_simd = SIMD_LEVEL if simd is None else min(int(simd), SIMD_LEVEL)
        cdef int64_t k
        with nogil:
            k = ar_push_params(&self.net, nb, &pv[0, 0, 0, 0], &kv[0, 0, 0], &tv[0, 0, 0, 0], ep,
                               nch, nthreads, use_simd, &sv[0], &lv[0], &jv[0])
        if k < 0:
            raise MemoryError(f"push_params: out of memory for {b} blocks")
        return sym[:k], loc[:k], scale[:k]

    def adapt(self, x, loc, j, coded=None):
        """adapt.adapt_scales in C (same integers): scale indices to code known blocks x
        (B, 3, 32, 32) with, from their locations and the network's indices j (clipped to
        0..127); coded (same shape, bool) the pixels that are pushed (default all)."""
        return self._known_blocks("adapt", x, loc, j, coded)

    def regress(self, x, loc, j, coded=None):
        """colour_regress.regress_locs in C (same integers): locations to code known blocks x
        (B, 3, 32, 32) with, from their chained locations and the network's indices j (clipped
        to 0..127); coded (same shape, bool) the pixels that are pushed (default all)."""
        return self._known_blocks("regress", x, loc, j, coded)

    def spatial(self, x, loc, j, coded=None):
        """spatial_regress.spatial_locs in C (same integers): locations to code known blocks x
        (B, 3, 32, 32) with, from their locations after the colour regression and the network's
        indices j (clipped to 0..127); coded (same shape, bool) the colours that are pushed
        (default all)."""
        return self._known_blocks("spatial", x, loc, j, coded)

    def _known_blocks(self, what, x, loc, j, coded):
        """adapt(), regress() and spatial(): the shared checks, then the C rule `what` over the
        blocks."""
        x = np.ascontiguousarray(x, np.int64)
        b = x.shape[0] if x.ndim == 4 else -1
        if x.shape != (b, 3, AR_BLOCK, AR_BLOCK) or b < 1:
            raise ValueError(f"{what}: x must be (B, 3, {AR_BLOCK}, {AR_BLOCK}), got {x.shape}")
        loc = np.ascontiguousarray(loc, np.int64)
        j = np.ascontiguousarray(j, np.int64)
        if loc.shape != x.shape or j.shape != x.shape:
            raise ValueError(f"{what}: loc and j must have x's shape")
        if j.size and (j.min() < 0 or j.max() > SCALE_MAX):
            raise ValueError(f"{what}: scale indices must lie in 0..{SCALE_MAX}")
        if what in ("regress", "spatial") and loc.size and np.abs(loc).max() > LOC_LIMIT:
            raise ValueError(f"{what}: locations must lie in +-{LOC_LIMIT}")
        out = np.empty_like(j)
        cdef const int64_t[:, :, :, ::1] xv = x
        cdef const int64_t[:, :, :, ::1] lv = loc
        cdef const int64_t[:, :, :, ::1] jv = j
        cdef int64_t[:, :, :, ::1] ov = out
        cdef const uint8_t[:, :, :, ::1] cv
        cdef const uint8_t *cp = NULL
        if coded is not None:
            cm = np.ascontiguousarray(coded, np.uint8)
            if cm.shape != x.shape:
                raise ValueError(f"{what}: coded must have x's shape")
            cv = cm
            cp = &cv[0, 0, 0, 0]
        cdef int64_t nb = b
        cdef bint regress = what == "regress"
        cdef bint spatial = what == "spatial"
        with nogil:
            if spatial:
                ar_spatial_all(&self.net, nb, &xv[0, 0, 0, 0], &lv[0, 0, 0, 0],
                               &jv[0, 0, 0, 0], cp, &ov[0, 0, 0, 0])
            elif regress:
                ar_regress_all(&self.net, nb, &xv[0, 0, 0, 0], &lv[0, 0, 0, 0],
                               &jv[0, 0, 0, 0], cp, &ov[0, 0, 0, 0])
            else:
                ar_adapt_all(&self.net, nb, &xv[0, 0, 0, 0], &lv[0, 0, 0, 0], &jv[0, 0, 0, 0],
                             cp, &ov[0, 0, 0, 0])
        return out


_last = (None, None)        # (weights, kernel) of the latest call: packing costs ~1 ms


def kernel_for(weights):
    """The ArKernel of an ImageWeights, packed once per weights object."""
    global _last
    held, kernel = _last
    if held is not weights:
        kernel = ArKernel(weights)
        _last = (weights, kernel)
    return kernel


def decode_ar_pixels(msg, weights, crop, known, tfeat, threads=1):
    """Decode one batch of blocks' pixels in place (see ArKernel.decode)."""
    kernel_for(weights).decode(msg, crop, known, tfeat, threads)
