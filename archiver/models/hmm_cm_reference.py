"""Python transcription of the context-mixing byte model of variant 3 (hmm_cm_core.c), written
from format_spec/codec-text.md section 3.4 for the tests: it must give the same byte masses
(Qcum(x_t), Q(x_t)) as the C model at every position. Slow (pure Python); small inputs only.
"""
from __future__ import annotations

M64 = (1 << 64) - 1
PHI = 0x9E3779B97F4A7C15
NIB = 0xD6E8FEB86659FD93
NCTX, NHASHED, INPUTS = 10, 8, 12
COUNT_LIMIT, MATCH_LIMIT = 12, 1023
MATCH_MIN, MATCH_MAX = 5, 63
LR, WEIGHT_MAX, APM_RATE = 24, 1 << 22, 7
MAX_BITS = 17
COUNTER_INIT = 1 << 31
_SQ = (1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
       3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094)


def squash(d: int) -> int:
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    u = d + 2048
    i, w = u >> 7, u & 127
    return (_SQ[i] * (128 - w) + _SQ[i + 1] * w + 64) >> 7


def _stretch_table() -> list[int]:
    tab, pi = [0] * 4096, 0
    for d in range(-2047, 2048):
        v = squash(d)
        for i in range(pi, v + 1):
            tab[i] = d
        pi = max(pi, v + 1)
    for i in range(pi, 4096):
        tab[i] = 2047
    return tab


STRETCH = _stretch_table()
REC = [(1 << 17) // (2 * n + 3) for n in range(1024)]


def table_bits(T: int) -> tuple[int, int]:
    """(log2 buckets of the hashed contexts, log2 entries of the match table) for T bytes."""
    b = 0
    while (1 << b) < T:
        b += 1
    return min(MAX_BITS, max(8, b - 1)), min(22, max(10, b))


def _counter_update(s: int, y: int, limit: int) -> int:
    p, n = s >> 10, s & 1023
    target = (1 << 22) - 1 if y else 0
    p += ((target - p) * REC[n]) >> 16
    return p << 10 | (n + 1 if n < limit else n)


class CMModel:
    def __init__(self, T: int):
        self.bits, self.mbits = table_bits(T)
        self.o0 = [COUNTER_INIT] * 256
        self.o1 = [COUNTER_INIT] * 65536
        self.hashed = [dict() for _ in range(NHASHED)]   # sparse: index -> counter
        self.ctxhash = [0] * NHASHED
        self.mtable: dict[int, int] = {}
        self.mcount = [COUNTER_INIT] * 32
        self.weights = [1 << 14] * (256 * 3 * INPUTS)
        self.weights2 = [1 << 14] * (256 * 8 * INPUTS)
        init = [squash((j - 16) * 128) * 16 for j in range(33)]
        self.apm: dict[int, int] = {}
        self.apm_init = init
        self.word = self.field = self.nfield = 0
        self.line_start = self.prev_line_start = 0
        self.mptr, self.mlen, self.mbyte = -1, 0, -1

    def _apm(self, i: int) -> int:
        return self.apm.get(i, self.apm_init[i % 33])

    def begin(self, data: bytes, t: int) -> None:
        c1 = data[t - 1] if t > 0 else 0
        if t > 0:
            if 65 <= c1 <= 90 or 97 <= c1 <= 122:
                self.word = ((self.word + (c1 | 32) + 1) * 0x2F0F3D8B) & M64
            else:
                self.word = 0
            if c1 == 10:
                self.prev_line_start, self.line_start = self.line_start, t
                self.nfield = self.field = 0
            elif c1 in b",;\t|":
                self.nfield += 1
                self.field = 0
            else:
                self.field = ((self.field + c1 + 1) * 0x2F0F3D8B) & M64
        key = 0
        for k in range(1, 7):
            key |= (data[t - k] if t >= k else 0) << (8 * (k - 1))
            slot = {2: 0, 3: 1, 4: 2, 6: 3}.get(k)
            if slot is not None:
                self.ctxhash[slot] = ((key + (k << 56)) * PHI) & M64
        self.ctxhash[4] = ((((self.word << 8) & M64) + c1 + (7 << 56)) * PHI) & M64
        col = t - self.line_start
        up = self.prev_line_start + col
        above = data[up] if up < self.line_start else 0
        self.ctxhash[5] = (((above << 16 | min(col, 255) << 8 | c1) + (8 << 56)) * PHI) & M64
        self.ctxhash[6] = (((key & 0xFFFF00FF00) + (9 << 56)) * PHI) & M64
        self.ctxhash[7] = (((((self.field << 8) & M64) + min(self.nfield, 255) + (10 << 56))
                            * PHI) & M64)
        if self.mlen > 0 and self.mbyte == c1:
            self.mptr += 1
            self.mlen = min(self.mlen + 1, MATCH_MAX)
        else:
            self.mlen = 0
        if t >= MATCH_MIN:
            mk = 0
            for k in range(1, MATCH_MIN + 1):
                mk |= data[t - k] << (8 * (k - 1))
            h = ((mk * PHI) & M64) >> (64 - self.mbits)
            if self.mlen == 0 and h in self.mtable:
                q = self.mtable[h] - 1
                n = 0
                while n < MATCH_MAX and q - n - 1 >= 0 and data[q - n - 1] == data[t - n - 1]:
                    n += 1
                if n >= MATCH_MIN:
                    self.mptr, self.mlen = q, n
            self.mtable[h] = t + 1
        self.mbyte = data[self.mptr] if self.mlen > 0 else -1
        self.c0, self.bitpos, self.c1 = 1, 0, c1
        self.lr_now = LR + LR * 2 * 16384 // (t + 16384)

    def predict(self) -> int:
        c0, bp = self.c0, self.bitpos
        if bp in (0, 4):
            nib = 0 if bp == 0 else c0
            self.bucket = [((((self.ctxhash[i] ^ ((nib * NIB) & M64)) * PHI) & M64)
                            >> (64 - self.bits)) << 4 for i in range(NHASHED)]
        inner = c0 if bp < 4 else (c0 & ((1 << (bp - 4)) - 1)) | (1 << (bp - 4))
        self.slots = [(self.o0, c0), (self.o1, self.c1 << 8 | c0)] + \
            [(self.hashed[i], self.bucket[i] + inner) for i in range(NHASHED)]
        x = []
        for table, i in self.slots:
            s = table[i] if isinstance(table, list) else table.get(i, COUNTER_INIT)
            x.append(STRETCH[s >> 20])
        mstate, self.mslot = 0, None
        if self.mbyte >= 0 and ((self.mbyte | 256) >> (8 - bp)) == c0:
            self.mexp = (self.mbyte >> (7 - bp)) & 1
            self.mslot = min(self.mlen, 15) << 1 | self.mexp
            x.append(STRETCH[self.mcount[self.mslot] >> 20])
            mstate = 1 if self.mlen < 16 else 2
        else:
            x.append(0)
        x.append(256)
        self.x = x
        self.wset = (mstate * 256 + c0) * INPUTS
        self.wset2 = (self.c1 << 3 | bp) * INPUTS
        dot = sum(self.weights[self.wset + i] * x[i] for i in range(INPUTS))
        dot2 = sum(self.weights2[self.wset2 + i] * x[i] for i in range(INPUTS))
        d = max(-2047, min(2047, (dot + dot2) >> 17))
        self.pmix = squash(d)
        s = STRETCH[self.pmix] + 2048
        lo, wt = s >> 7, s & 127
        base = (self.c1 << 8 | c0) * 33 + lo
        pa = (self._apm(base) * (128 - wt) + self._apm(base + 1) * wt) >> 11
        self.apm_idx = base + (wt >> 6)
        return max(1, min(4095, (self.pmix + 3 * pa) >> 2))

    def update(self, y: int) -> None:
        for table, i in self.slots:
            s = table[i] if isinstance(table, list) else table.get(i, COUNTER_INIT)
            table[i] = _counter_update(s, y, COUNT_LIMIT)
        if self.mslot is not None:
            self.mcount[self.mslot] = _counter_update(self.mcount[self.mslot], y, MATCH_LIMIT)
            if self.mexp != y:
                self.mbyte = -1
        err = ((y << 12) - self.pmix) * self.lr_now
        for weights, base in ((self.weights2, self.wset2), (self.weights, self.wset)):
            for i in range(INPUTS):
                v = weights[base + i] + ((self.x[i] * err) >> 16)
                weights[base + i] = max(-WEIGHT_MAX, min(WEIGHT_MAX, v))
        g = (y << 16) + (y << APM_RATE) - y - y
        a = self._apm(self.apm_idx)
        self.apm[self.apm_idx] = a + ((g - a) >> APM_RATE)
        self.c0 = self.c0 << 1 | y
        self.bitpos += 1

    def byte(self, data: bytes, t: int) -> tuple[int, int]:
        """(Qcum(x_t), Q(x_t)) for x_t = data[t], learning it."""
        m, cum = 1 << 32, 0
        self.begin(data, t)
        for k in range(7, -1, -1):
            y = (data[t] >> k) & 1
            left = (m * (4096 - self.predict())) >> 12
            if y:
                cum, m = cum + left, m - left
            else:
                m = left
            self.update(y)
        return cum, m


def masses(data: bytes) -> list[tuple[int, int]]:
    """(Qcum(x_t), Q(x_t)) for every position of one segment."""
    cm = CMModel(max(len(data), 1))
    return [cm.byte(data, t) for t in range(len(data))]


def v3_cum(lam: int, ecum: int, qcum: int, b: int) -> int:
    """Variant 3's cumulative frequency C(b) at precision 24 (spec 3.4)."""
    f = (lam << 16) * ecum + (65536 - lam) * qcum
    return b + (f * ((1 << 24) - 256) >> 48)
