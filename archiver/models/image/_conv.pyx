# distutils: sources = archiver/models/image/conv_core.c
# distutils: include_dirs = archiver/models/image
# distutils: depends = archiver/models/image/conv_core.h archiver/models/image/conv_eval.h
"""The image model's spatial networks (q1, trunk, the latent nets) in C (conv_core.c): one call
runs a whole arch.Graph over a batch of blocks with int16 tensors and int32 accumulators, the
integers of runtime.GraphRunner bit for bit (see conv_core.h) without numpy's per-op overhead.

    net = ConvNet(graph, params, shift)   # packs the weights; ConvNetError if it cannot run
    y = net(inputs)                       # as GraphRunner: NCHW integer inputs, NCHW int64 out
"""

import threading

import numpy as np

from libc.stdint cimport int16_t, int32_t, int64_t
from libc.stdlib cimport calloc, free

from archiver.models.image import arch


cdef extern from "conv_core.h" nogil:
    enum:
        CG_MAX_GROUPS
        CG_MAX_CLASSES
        CG_MAX_COUT
        CG_CONV
        CG_ADD
        CG_S2D
        CG_D2S
        CG_PAD
        CG_CROP
        CG_RELU
        CG_LINEAR
        CG_RAW
    ctypedef struct cg_tensor:
        int32_t h, w, c, cs
    ctypedef struct cg_group:
        int32_t tensor, k, off, cls
        const int16_t *w
    ctypedef struct cg_op:
        int32_t type, act, out, a, b
        int32_t p[4]
        int32_t cout, coutp, ngroups, ncls
        int32_t win[4]
        cg_group g[4]
        const int64_t *m[4]
        int32_t m32[4]
        const int64_t *bias
    ctypedef struct cg_net:
        int32_t nops, ntensors, border, shift
        const cg_op *ops
        const cg_tensor *t
    int64_t cg_block_size(const cg_net *n, int32_t t)
    void cg_run(const cg_net *n, int64_t nblocks, int16_t *const *bufs, const int64_t *bstride,
                int64_t *raw, int simd)
    int cg_simd_level()


SIMD_LEVEL = cg_simd_level()   # 2 AVX-512 VNNI, 1 AVX2, 0 plain C
INT32_EXACT = (1 << 31) - 1
_ACTS = {"relu": CG_RELU, "linear": CG_LINEAR, "raw": CG_RAW}


class ConvNetError(ValueError):
    """A graph this kernel does not run (runtime.runners then keeps the numpy path)."""


def _pack(w, cs, coutp):
    """(cout, cin, k, k) weights -> [ky][kx * cs / 2 + pair][coutp][2] int16 (zero padded)."""
    cout, cin, k, _ = w.shape
    full = np.zeros((k, k, cs, coutp), np.int64)
    full[:, :, :cin, :cout] = np.asarray(w, np.int64).transpose(2, 3, 1, 0)
    return np.ascontiguousarray(full.reshape(k, k * cs // 2, 2, coutp).transpose(0, 1, 3, 2),
                                np.int16)


def _needed(graph, shapes):
    """{tensor: (y0, y1, x0, x1)}: the window of each tensor that the graph's output depends
    on (the trunk reads only the middle of its context grid: ~27% of its MACs are spared)."""
    need = {graph.output: (0, shapes[graph.output][1], 0, shapes[graph.output][2])}

    def want(name, y0, y1, x0, x1):
        _, h, w = shapes[name]
        y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
        if name in need:
            a = need[name]
            y0, y1, x0, x1 = min(y0, a[0]), max(y1, a[1]), min(x0, a[2]), max(x1, a[3])
        need[name] = (y0, y1, x0, x1)

    for op in reversed(graph.ops):
        if op.out not in need:
            continue
        y0, y1, x0, x1 = need[op.out]
        if isinstance(op, arch.Conv):
            for name, k, pad in op.inputs:
                lo = -(k // 2) if pad == "same" else 0
                want(name, y0 + lo, y1 + lo + k - 1, x0 + lo, x1 + lo + k - 1)
        elif isinstance(op, arch.Add):
            want(op.a, y0, y1, x0, x1)
            want(op.b, y0, y1, x0, x1)
        elif isinstance(op, arch.Crop):
            want(op.inp, y0 + op.rows[0], y1 + op.rows[0], x0 + op.cols[0], x1 + op.cols[0])
        elif isinstance(op, arch.Pad):
            t, _, l, _ = op.tblr
            want(op.inp, y0 - t, y1 - t, x0 - l, x1 - l)
        elif isinstance(op, arch.SpaceToDepth):
            want(op.inp, 2 * y0, 2 * y1, 2 * x0, 2 * x1)
        elif isinstance(op, arch.DepthToSpace):
            want(op.inp, y0 // 2, -(-y1 // 2), x0 // 2, -(-x1 // 2))
    return need


cdef class ConvNet:
    """One arch.Graph packed for conv_core.c."""
    cdef cg_net net
    cdef cg_op *ops
    cdef cg_tensor *tens
    cdef object keep              # numpy arrays the C structs point into
    cdef readonly object graph
    cdef object ids, shapes, kinds, raw_out, per_block, layouts

    def __cinit__(self):
        self.ops = NULL
        self.tens = NULL

    def __dealloc__(self):
        free(self.ops)
        free(self.tens)

    def __init__(self, graph, params, shift):
        self.graph = graph
        shapes = arch.shape_of(graph)
        kinds = arch.tensor_kinds(graph)
        self.shapes, self.kinds = shapes, kinds
        names = [n for n, _, _ in graph.inputs] + [op.out for op in graph.ops]
        if len(set(names)) != len(names):
            raise ConvNetError(f"{graph.name}: tensor names repeat")
        self.ids = {n: i for i, n in enumerate(names)}
        if any(max(arch.KIND_MAX[kinds[n]], 127) > 1023 for n in names):
            raise ConvNetError(f"{graph.name}: values exceed the int16 range assumed")
        border = 0
        for op in graph.convs():
            for _, k, pad in op.inputs:
                if k % 2 == 0:
                    raise ConvNetError(f"{graph.name}.{op.out}: even kernel {k}")
                if pad == "same":
                    border = max(border, k // 2)
        self.tens = <cg_tensor *>calloc(len(names), sizeof(cg_tensor))
        self.ops = <cg_op *>calloc(len(graph.ops), sizeof(cg_op))
        if self.tens == NULL or self.ops == NULL:
            raise MemoryError()
        for n, i in self.ids.items():
            c, h, w = shapes[n]
            self.tens[i].c, self.tens[i].h, self.tens[i].w = c, h, w
            self.tens[i].cs = c + (c & 1)
        self.keep = []
        cdef cg_op *o
        cdef int16_t[:, :, :, ::1] wv
        cdef int64_t[::1] mv
        types = {arch.Add: CG_ADD, arch.SpaceToDepth: CG_S2D, arch.DepthToSpace: CG_D2S,
                 arch.Pad: CG_PAD, arch.Crop: CG_CROP}
        self.raw_out = False
        need = _needed(graph, shapes)
        for i, op in enumerate(graph.ops):
            o = &self.ops[i]
            o.out = self.ids[op.out]
            if isinstance(op, arch.Conv):
                self._conv(o, op, params[op.out])
                for j in range(4):
                    o.win[j] = need.get(op.out, (0, 0, 0, 0))[j]
                if op.act == "raw":
                    if i != len(graph.ops) - 1:
                        raise ConvNetError(f"{graph.name}.{op.out}: a raw conv must be last")
                    self.raw_out = True
                continue
            if type(op) not in types:
                raise ConvNetError(f"{graph.name}: op {type(op).__name__} is not supported")
            o.type = types[type(op)]
            if isinstance(op, arch.Add):
                o.a, o.b = self.ids[op.a], self.ids[op.b]
            else:
                o.a = self.ids[op.inp]
            if isinstance(op, arch.Pad):
                for j in range(4):
                    o.p[j] = op.tblr[j]
            elif isinstance(op, arch.Crop):
                o.p[0], o.p[1], o.p[2], o.p[3] = op.rows[0], op.rows[1], op.cols[0], op.cols[1]
        if graph.ops[len(graph.ops) - 1].out != graph.output:
            raise ConvNetError(f"{graph.name}: the output must be the last op")
        # inputs and a non-raw output hold every block; the rest is one block's scratch
        self.per_block = [False] * len(names)
        for name, _, _ in graph.inputs:
            self.per_block[self.ids[name]] = True
        self.per_block[self.ids[graph.output]] = not self.raw_out
        self.layouts = threading.local()
        self.net.nops = len(graph.ops)
        self.net.ntensors = len(names)
        self.net.border = border
        self.net.shift = int(shift)
        self.net.ops = self.ops
        self.net.t = self.tens

    cdef _conv(self, cg_op *o, op, p):
        g = self.graph
        classes = arch.group_classes(g, op)
        order = list(dict.fromkeys(classes))
        coutp = -(-op.cout // 16) * 16
        if op.act not in _ACTS:
            raise ConvNetError(f"{g.name}.{op.out}: activation {op.act!r} is not supported")
        if coutp > CG_MAX_COUT or len(op.inputs) > CG_MAX_GROUPS or len(order) > CG_MAX_CLASSES:
            raise ConvNetError(f"{g.name}.{op.out}: too many channels or input groups")
        o.type, o.act = CG_CONV, _ACTS[op.act]
        o.cout, o.coutp, o.ngroups, o.ncls = op.cout, coutp, len(op.inputs), len(order)
        cdef int16_t[:, :, :, ::1] wv
        cdef int64_t[::1] mv
        bound = {c: np.zeros(op.cout, np.int64) for c in order}
        for gi, (name, k, pad) in enumerate(op.inputs):
            w = np.asarray(p.ws[gi], np.int64)
            if np.abs(w).max(initial=0) > 32767:
                raise ConvNetError(f"{g.name}.{op.out}: weights exceed int16")
            bound[classes[gi]] += np.abs(w).reshape(op.cout, -1).sum(1) * \
                arch.KIND_MAX[self.kinds[name]]
            cs = self.tens[self.ids[name]].cs
            packed = _pack(w, cs, coutp)
            self.keep.append(packed)
            wv = packed
            o.g[gi].tensor = self.ids[name]
            o.g[gi].k = k
            o.g[gi].off = -(k // 2) if pad == "same" else 0
            o.g[gi].cls = order.index(classes[gi])
            o.g[gi].w = &wv[0, 0, 0, 0]
        for c in order:
            if bound[c].max(initial=0) > INT32_EXACT:
                raise ConvNetError(f"{g.name}.{op.out}: partial sums of class {c} may reach "
                                   "2**31 (int32 accumulators would not be exact)")
        for ci, c in enumerate(order):
            m = np.zeros(coutp, np.int64)
            m[:op.cout] = p.m[classes.index(c)]
            self.keep.append(m)
            mv = m
            o.m[ci] = &mv[0]
            o.m32[ci] = int(np.abs(m).max()) <= INT32_EXACT
        bias = np.zeros(coutp, np.int64)
        bias[:op.cout] = p.b
        self.keep.append(bias)
        mv = bias
        o.bias = &mv[0]

    def _layout(self, int64_t b):
        """(arena, offsets, block strides, tensor pointers) for batches of b blocks, made once
        per thread and batch size: inputs and output hold b blocks, the other tensors one
        (reused block after block, see conv_core.h). Reusing it is safe: every call rewrites
        the same interior positions and leaves the rest zero."""
        cache = self.layouts.__dict__
        got = cache.get(b)
        if got is not None:
            return got
        cdef int nt = self.net.ntensors
        sizes = [cg_block_size(&self.net, i) for i in range(nt)]
        offs, at = [], 0
        for i in range(nt):
            offs.append(at)
            at += sizes[i] * b if self.per_block[i] else sizes[i]
        offs.append(at)
        arena = np.zeros(at + 1, np.int16)
        bstride = np.array([sizes[i] if self.per_block[i] else 0 for i in range(nt)], np.int64)
        ptrs = np.array([arena[o:].ctypes.data for o in offs[:nt]], np.uintp)
        if len(cache) > 8:              # a few batch sizes recur (wavefronts of one image)
            cache.clear()
        got = cache[b] = (arena, offs, bstride, ptrs)
        return got

    def __call__(self, inputs, simd=None):
        """inputs: {name: (B, C, H, W) integer array} for every graph input; returns the
        graph's output (B, C, H, W) int64, as runtime.GraphRunner. simd: a path no higher
        than SIMD_LEVEL (0 plain C, 1 AVX2, 2 AVX-512 VNNI; all give the same integers),
        default the best."""
        cdef int32_t r = self.net.border
        g = self.graph
        b = None
        for name, kind, (c, h, w) in g.inputs:
            x = inputs[name]
            if b is None:
                b = x.shape[0]
            if x.shape != (b, c, h, w):
                raise ValueError(f"{g.name}: input {name} must be ({b}, {c}, {h}, {w}), "
                                 f"got {x.shape}")
        arena, offs, bstride, ptr_arr = self._layout(b)
        out_id = self.ids[g.output]
        for name, kind, (c, h, w) in g.inputs:
            i = self.ids[name]
            x = np.asarray(inputs[name])
            lim = arch.KIND_MAX[kind]
            if x.size and (x.min() < -lim or x.max() > lim):
                raise ValueError(f"{g.name}: input {name} values must lie in -{lim}..{lim}")
            view = arena[offs[i]:offs[i + 1]].reshape(b, h + 2 * r, w + 2 * r, -1)
            view[:, r:r + h, r:r + w, :c] = x.transpose(0, 2, 3, 1)
        oc, oh, ow = self.shapes[g.output]
        raw = np.empty((b, oh, ow, oc) if self.raw_out else (1,), np.int64)
        cdef int64_t[::1] sv = bstride
        cdef int64_t[::1] rv = raw.reshape(-1)
        cdef size_t[::1] pv = ptr_arr
        cdef int use_simd = SIMD_LEVEL if simd is None else min(int(simd), SIMD_LEVEL)
        cdef int64_t nb = b
        with nogil:
            cg_run(&self.net, nb, <int16_t **>&pv[0], &sv[0], &rv[0], use_simd)
        if self.raw_out:
            return raw.transpose(0, 3, 1, 2)
        view = arena[offs[out_id]:offs[out_id + 1]].reshape(b, oh + 2 * r, ow + 2 * r, -1)
        # NHWC in memory (what the ar kernel reads back), NCHW to the caller
        return view[:, r:r + oh, r:r + ow, :oc].astype(np.int64).transpose(0, 3, 1, 2)
