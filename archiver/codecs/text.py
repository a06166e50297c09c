"""Codec 0x10: text through a byte-level HMM, coded with IconoCLaSM bits-back over rANS.

Payload (all integers little-endian):
    u8   low 4 bits: variant, 0 = the plain HMM, 1 = the HMM with adaptive emissions (context
         counts of orders 2, 3, 4, 6 added to every state's emission table, hmm_core.h),
         2 = the HMM under a PPM-style blend of those counts and a match model (hmm_core.h,
         hmm_match.h), 3 = the HMM's emission mixed with a context-mixing byte model
         (hmm_cm.h), 4 = variant 3's coding with the small HMM (weights/text-hmm16.npz: K = 16
         states, every transition; the filter costs 1/16 of variant 3's, so the coder runs at the
         context-mixing model's speed); high 4 bits: n - 1, n = the number of segments (1..2 for
         variants 0-2, 1..16 for variants 3 and 4)
    if n > 1: n x (u64 raw size, u64 message size)
    the n rANS messages (cython_ans Message.to_bytes, seed 0), one per segment; with n = 1 the
    message is the rest of the payload and holds the whole chunk
Variants 0-3 use weights/text-hmm.npz (K = 256 states, 16 successors each).
Segments are coded independently: variants 3 and 4 cut inputs into segments of at most SEGMENT_MAX
bytes, which bounds the coder's memory (the context-mixing tables and 8 bytes per position for
the way back), and codes them one after the other (THREADS = 1: the container's worker pool
runs chunks in parallel; a thread per segment on top would double the memory of a chunk). Decoding pops exactly each segment's size and then checks that its
message is back at the encoder's starting point (the initial bits it drew, and nothing else):
damage anywhere in a message shows up there and raises CorruptChunk.

The container tries this codec on chunks that look like text and keeps it only where it beats
zstd; any byte value can be coded (emissions are leaky), so a stray binary byte costs bits,
never correctness.
"""
from __future__ import annotations

import struct
import threading
from concurrent.futures import ThreadPoolExecutor

from archiver.codecs.base import Codec, Progress, no_progress
from archiver.codecs.registry import register
from archiver.container.router import TEXT as TEXT_CLASS, looks_like_text
from archiver.errors import CorruptChunk, ModelUnavailable

SEED = 0
PLAIN, ADAPTIVE, BLEND, MIXED, MIXED_SMALL = 0, 1, 2, 3, 4
# The HMM tables each variant codes with (weights/); variant 4's K = 16 model is trained like
# the first (archiver/train/text.py --states 16, checkpoints/README.md).
WEIGHTS = {PLAIN: "text-hmm.npz", ADAPTIVE: "text-hmm.npz", BLEND: "text-hmm.npz",
           MIXED: "text-hmm.npz", MIXED_SMALL: "text-hmm16.npz"}
# Variant 1 contexts: orders and count weights (2^16: one count weighs as much as the whole HMM
# emission). Chosen on held-out 4-16 KiB pieces (benchmarks/results/text.md). Decoded only.
CONTEXT_ORDERS, CONTEXT_WEIGHTS = (2, 3, 4, 6), (1024, 8192, 32768, 131072)
# Variant 2: the same orders blended as PPM does, escape (BETA0 + BETA1 * distinct) / 4 per
# order (BETAD / 4 in a context that has seen a single byte so far), under a match model of
# minimum length 6 whose weight grows with the match length (P(predicted byte) ~ M / (M + 256)
# before the blend below it) and that goes on past a mismatch at the same offset (weights
# MATCH_RWEIGHTS by the length matched since). Chosen on pieces of the training text
# (benchmarks/tune_text.py), not on the held-out text the benchmark uses.
BLEND_ORDERS = (2, 3, 4, 6)
BLEND_BETA0, BLEND_BETA1, BLEND_BETAD = (2, 2, 2, 2), (24, 20, 16, 12), (20, 17, 14, 11)
MATCH_MIN = 6
MATCH_WEIGHTS = tuple(0 if n < 6 else 16 + 16 * (n - 6) for n in range(32))   # by length
MATCH_RWEIGHTS = tuple(16 + 64 * n for n in range(32))
# Variants 3 and 4: weight of the HMM's emission against the context-mixing model's distribution, in
# 2^-16 (hmm_cm.h). Chosen on the tuning files (data/textbench/tune), not the held-out ones:
# 16..2048 are within 0.5% of each other.
MIXED_LAMBDA = 256
ENCODER_VARIANT = MIXED_SMALL
# Below this size the encoder also codes variant 2 and keeps the smaller payload: the context-
# mixing model starts from nothing, the blend leans on the trained HMM where contexts are new
# (tuning pieces: variant 2 wins by 17% at 1 KiB and 7% at 4 KiB, variant 3 by 4% at 16 KiB;
# on the 28 held-out files under 64 KiB variant 4 wins from 10 KB up, by 1-9%, and variant 2's
# K = 256 filter made those files code at a third of the speed).
TRY_BLEND_BELOW = 16 << 10
SEGMENT_MIN = 256 << 10        # variants 0-2: inputs of 2 x this or more were split in two
SEGMENT_MAX = 4 << 20          # variant 3: segments of at most this many bytes
MAX_SEGMENTS = {PLAIN: 2, ADAPTIVE: 2, BLEND: 2, MIXED: 16, MIXED_SMALL: 16}
CM_VARIANTS = (MIXED, MIXED_SMALL)       # coded through the context-mixing model
THREADS = 1                    # segments of one chunk coded at once
SEGMENT = struct.Struct("<QQ")


class Cancelled(Exception):
    """Raised in the coder threads' tick once the caller has given up (e.g. Ctrl-C)."""


class _Ticker:
    """The coder loops' tick for one chunk: turns their units of work (positions, summed over
    every variant and segment coded) into the raw bytes progress(n) expects, from any of the
    coder's threads; and stops those threads once cancelled. The loops tick every ~0.1 s, so
    Ctrl-C stops a chunk within a fraction of a second instead of when it is done."""

    def __init__(self, progress: Progress, size: int, units: int):
        self.progress, self.size, self.units = progress or no_progress, size, max(units, 1)
        self.done = self.reported = 0
        self.cancelled = False
        self.lock = threading.Lock()

    def __call__(self, n: int) -> None:
        if self.cancelled:
            raise Cancelled()
        with self.lock:
            self.done += n
            nbytes = self.done * self.size // self.units - self.reported
            self.reported += nbytes
        if nbytes:
            self.progress(nbytes)

    def run(self, pool_size: int, fn, jobs) -> list:
        """fn over jobs, on threads when there are several; any exception in the caller's
        thread (KeyboardInterrupt) cancels the others before it propagates."""
        if pool_size == 1:
            return [fn(job) for job in jobs]
        with ThreadPoolExecutor(pool_size) as pool:
            try:
                return list(pool.map(fn, jobs))
            except BaseException:
                self.cancelled = True       # the threads stop at their next tick
                raise


class TextCodec(Codec):
    codec_id = 0x10
    name = "text"
    content_classes = frozenset({TEXT_CLASS})
    # Honest text codes at 2-10:1; beyond 64:1 (long repeats) zstd is nearly as small, and the
    # bound keeps a hostile chunk's decoding time to ~0.2 s per KB of payload.
    max_ratio = 64

    def __init__(self):
        self._coders, self._digest = None, None

    def _model(self):
        """(coders by variant, SHA-256 of each weights file by name); loaded once, rebuilt if
        the weights change."""
        from archiver.models.hmm import load_shipped
        from archiver.models.weights import WeightsError
        try:
            loaded = {name: load_shipped(name) for name in sorted(set(WEIGHTS.values()))}
        except WeightsError as exc:
            raise ModelUnavailable("text", exc) from None
        digests = {name: digest for name, (_, digest) in loaded.items()}
        if self._coders is None or self._digest != digests:
            from archiver.models._hmm import HmmCoder
            big, small = loaded[WEIGHTS[MIXED]][0], loaded[WEIGHTS[MIXED_SMALL]][0]
            self._coders = {
                PLAIN: HmmCoder(big),
                ADAPTIVE: HmmCoder(big, CONTEXT_ORDERS, CONTEXT_WEIGHTS),
                BLEND: HmmCoder(big, BLEND_ORDERS, (1,) * len(BLEND_ORDERS),
                                match_min=MATCH_MIN, match_weights=MATCH_WEIGHTS,
                                match_rweights=MATCH_RWEIGHTS,
                                blend=(BLEND_BETA0, BLEND_BETA1, BLEND_BETAD)),
                MIXED: HmmCoder(big, cm_lambda=MIXED_LAMBDA),
                MIXED_SMALL: HmmCoder(small, cm_lambda=MIXED_LAMBDA)}
            self._digest = digests
        return self._coders, digests

    def model_hashes(self) -> tuple[str, ...]:
        """SHA-256 of the weights the encoder codes with (variant 2 for small inputs, variant
        4); ModelUnavailable when they are missing or damaged."""
        digests = self._model()[1]
        return tuple(digests[WEIGHTS[v]] for v in (BLEND, ENCODER_VARIANT))

    def decodable_hashes(self) -> tuple[str, ...]:
        """Every weights file some variant decodes with (older archives keep opening)."""
        return tuple(self._model()[1].values())

    def accepts(self, sample: bytes, path: str) -> bool:
        return looks_like_text(sample)

    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        coders, _ = self._model()
        variants = ((BLEND, ENCODER_VARIANT) if len(data) < TRY_BLEND_BELOW else
                    (ENCODER_VARIANT,))
        ticker = _Ticker(progress, len(data), len(variants) * len(data))
        return min((self._encode_variant(coders[v], v, data, ticker) for v in variants), key=len)

    @staticmethod
    def _encode_variant(coder, variant: int, data: bytes, ticker: _Ticker | None = None) -> bytes:
        from cython_ans import Message
        ticker = ticker or _Ticker(None, len(data), len(data))
        if variant in CM_VARIANTS:
            n = max(1, -(-len(data) // SEGMENT_MAX))
            if n > MAX_SEGMENTS[variant]:
                raise ValueError(f"text codec: {len(data)} bytes is more than one chunk may "
                                 f"hold ({MAX_SEGMENTS[variant]} x {SEGMENT_MAX})")
        else:
            n = MAX_SEGMENTS[variant] if len(data) >= MAX_SEGMENTS[variant] * SEGMENT_MIN else 1
        cuts = [len(data) * k // n for k in range(n + 1)]
        pieces = [memoryview(data)[cuts[k]:cuts[k + 1]] for k in range(n)]

        def one(piece) -> bytes:
            msg = Message(seed=SEED)
            coder.encode(piece, msg, ticker)
            return msg.to_bytes()

        messages = ticker.run(_threads(variant, n), one, pieces)   # the coder releases the GIL
        head = bytes([variant | (n - 1) << 4])
        if n > 1:
            head += b"".join(SEGMENT.pack(len(p), len(m)) for p, m in zip(pieces, messages))
        return head + b"".join(messages)

    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        from cython_ans import Message
        from archiver.models._hmm import message_is_initial
        if not payload:
            raise CorruptChunk("text codec: empty payload")
        variant, n = payload[0] & 15, (payload[0] >> 4) + 1
        if variant not in MAX_SEGMENTS:
            raise CorruptChunk(f"text codec: unknown variant {variant}; the archive is damaged "
                               "or from a newer bbx")
        if n == 1:
            table, pos = [(size, len(payload) - 1)], 1
        else:
            if n > MAX_SEGMENTS[variant] or len(payload) < 1 + n * SEGMENT.size:
                raise CorruptChunk(f"text codec: bad segment table ({n} segments)")
            table = [SEGMENT.unpack_from(payload, 1 + k * SEGMENT.size) for k in range(n)]
            pos = 1 + n * SEGMENT.size
        if sum(raw for raw, _ in table) != size:
            raise CorruptChunk(f"text codec: segments hold {sum(r for r, _ in table)} bytes, "
                               f"expected {size}")
        if pos + sum(m for _, m in table) != len(payload):
            raise CorruptChunk("text codec: segment sizes do not match the payload length")
        coder = self._model()[0][variant]
        jobs = []
        for raw, mlen in table:
            try:
                jobs.append((Message.from_bytes(payload[pos:pos + mlen], seed=SEED), raw))
            except ValueError as exc:
                raise CorruptChunk(f"text codec: bad rANS message ({exc})") from None
            pos += mlen

        ticker = _Ticker(progress, size, size)

        def one(job) -> bytes:
            msg, raw = job
            out = coder.decode(msg, raw, ticker)
            if not message_is_initial(msg):
                raise CorruptChunk("text codec: payload does not decode cleanly (damaged data)")
            return out

        return b"".join(ticker.run(_threads(variant, n), one, jobs))


def _threads(variant: int, n: int) -> int:
    """Threads for n segments: variants 3 and 4 one after the other (THREADS: the container's pool
    runs chunks in parallel, a thread per segment on top would double a chunk's memory);
    variants 0-2's two halves on two threads, as they were written for."""
    return min(n, THREADS if variant in CM_VARIANTS else 2)


TEXT = register(TextCodec())
