"""Codec 0x20: an image file (PNG, PNM, BMP, TIFF, ...) coded as its pixels with the image model
(Bit-Swap over one rANS message, archiver/models/image/image_coder.py), its alpha with zstd, and
the bytes that rebuild the original file exactly from the pixels ("side", written and read by
archiver/codecs/image_files). Payload layout: format_spec/codec-image.md.

The router gives this codec whole image files, one per chunk. A file that image_files cannot
rebuild exactly is not for this codec (Declined): the chunk coder then keeps zstd or
store, and it keeps them anyway whenever they are smaller."""
from __future__ import annotations

import struct
import threading

import numpy as np
import zstandard

from archiver.codecs.base import Codec, Declined, Progress
from archiver.codecs.registry import register
from archiver.errors import CorruptChunk

# The payload version names the weights that coded it: a reader keeps every version's weights,
# so archives written before new weights shipped still decode.
WEIGHTS_BY_VERSION = {1: "image-l4.npz", 2: "image-l4b.npz", 3: "image-l4c.npz",
                      4: "image-l4d.npz", 5: "image-l4e.npz", 6: "image-l4f.npz"}
VERSION = 6                     # what the encoder writes
WEIGHTS = WEIGHTS_BY_VERSION[VERSION]
# flags (payload byte 1)
SCHEME_MASK = 0x03        # image_coder scheme: 0 Bit-Swap, 1 BB-ANS
F_GREY = 0x04             # one plane
F_ALPHA = 0x08            # an alpha plane follows the side bytes
F_REPLICATED = 0x10       # three equal planes, coded as one
F_LATTICE = 0x20          # every pixel on a JPEG decoder's colour lattice: B coded among the
                          # values R and G allow (lattice.py; versions 6 and later)
LATTICE_VERSION = 6
KNOWN_FLAGS = SCHEME_MASK | F_GREY | F_ALPHA | F_REPLICATED | F_LATTICE
_HEAD = struct.Struct("<BBII")            # version, flags, width, height
_LEN = struct.Struct("<I")
# The pixels of a real file never exceed ~1032 bytes per byte of file (deflate's limit); a
# payload declaring more is damaged, and is refused before anything is allocated.
MAX_PIXEL_BYTES_PER_FILE_BYTE = 1032
PIXEL_SLACK = 1 << 16
# Decoding costs time per coded subpixel (~0.5 MP/s), so the subpixels a payload may declare are
# bounded by its own size too: at least 1/32 bit each (real images cost ~0.1-2 bits). The encoder
# declines an image coded below that (zstd takes it) and the decoder refuses a payload declaring
# more, so a 22-byte hostile payload cannot claim 10^6 pixels (25 s measured) or more.
SUBPIXELS_PER_PAYLOAD_BYTE = 256
ALPHA_ZSTD_LEVEL = 19
MESSAGE_SEED = 0

_lock = threading.Lock()
_runtimes: dict = {}


def formats():
    """archiver.codecs.image_files (decompose / rebuild), imported when first needed."""
    from archiver.codecs import image_files
    return image_files


def runtime(name: str = WEIGHTS):
    """The integer runtime of the image model in weights file `name`, loaded (hash-checked)
    once per process."""
    with _lock:
        if name not in _runtimes:
            # The networks run tiny GEMMs (one wavefront of blocks): BLAS threads only spin,
            # up to 7x the wall time on a busy machine (measured), so this process keeps one;
            # parallelism is across files (the pipeline's workers). Exact at any count.
            from threadpoolctl import threadpool_limits
            threadpool_limits(1, user_api="blas")
            from archiver.models import weights
            from archiver.models.image import weights_io
            from archiver.models.image.model import ImageRuntime
            _runtimes[name] = ImageRuntime(weights_io.load(weights.verified_path(name)[0]))
        return _runtimes[name]


def pixel_limit(size: int) -> int:
    """Most pixel bytes (planes and alpha) a file of `size` bytes may hold."""
    return MAX_PIXEL_BYTES_PER_FILE_BYTE * size + PIXEL_SLACK


def coded_limit(payload_size: int) -> int:
    """Most coded subpixels a payload of `payload_size` bytes may declare."""
    return SUBPIXELS_PER_PAYLOAD_BYTE * payload_size + PIXEL_SLACK


def _reporter(progress: Progress, size: int, nblocks: int):
    """done(blocks) -> progress(raw bytes), pro rata by blocks, summing exactly to size."""
    state = {"blocks": 0, "bytes": 0}

    def done(n: int) -> None:
        state["blocks"] += n
        upto = size * state["blocks"] // nblocks
        if progress is not None and upto > state["bytes"]:
            progress(upto - state["bytes"])
        state["bytes"] = upto
    return done


class ImageCodec(Codec):
    codec_id = 0x20
    name = "image"
    content_classes = frozenset({"image"})
    scheme = 0                 # image_coder.BITSWAP; BB-ANS only for comparisons
    version = VERSION          # payload version written, hence weights used (tests: older ones)

    def model_hashes(self) -> tuple[str, ...]:
        from archiver.models import weights
        formats()              # no image_files: this codec cannot be used
        return (weights.verified_path(WEIGHTS_BY_VERSION[self.version])[1],)

    def decodable_hashes(self) -> tuple[str, ...]:
        from archiver.models import weights
        return tuple(weights.verified_path(name)[1] for name in WEIGHTS_BY_VERSION.values())

    def accepts(self, sample: bytes, path: str) -> bool:
        # the router has classed the file as an image from its content; whether it rebuilds
        # exactly is known only from the whole file (encode raises Declined if not)
        return True

    def encode(self, data: bytes, level: int, progress: Progress = None) -> bytes:
        from archiver.models.image import image_coder
        from cython_ans import Message
        dec = formats().decompose(data)
        if dec is None:
            raise Declined("not an image file this bbx rebuilds exactly")
        planes = np.ascontiguousarray(dec.planes, np.uint8)
        c, h, w = planes.shape
        alpha = None if dec.alpha is None else np.ascontiguousarray(dec.alpha, np.uint8)
        if c * h * w + (0 if alpha is None else h * w) > pixel_limit(len(data)):
            raise Declined(f"{w}x{h} pixels in {len(data)} bytes exceed the codec's limit")
        flags = self.scheme
        coded = planes
        if c == 1:
            flags |= F_GREY
        elif np.array_equal(planes[0], planes[1]) and np.array_equal(planes[0], planes[2]):
            flags |= F_REPLICATED
            coded = planes[:1]
        elif self.version >= LATTICE_VERSION:
            from archiver.models.image import lattice
            if lattice.on_lattice(planes.transpose(1, 2, 0)):
                flags |= F_LATTICE
        parts = [b"", _LEN.pack(len(dec.side)), bytes(dec.side)]
        if alpha is not None:
            flags |= F_ALPHA
            z = zstandard.ZstdCompressor(level=ALPHA_ZSTD_LEVEL).compress(alpha.tobytes())
            parts += [_LEN.pack(len(z)), z]
        parts[0] = _HEAD.pack(self.version, flags, w, h)
        msg = Message(seed=MESSAGE_SEED)
        geometry = image_coder.Geometry(h, w)
        image_coder.encode_image(runtime(WEIGHTS_BY_VERSION[self.version]), msg, coded,
                                 self.scheme, _reporter(progress, len(data), geometry.nblocks),
                                 lattice=bool(flags & F_LATTICE))
        parts.append(msg.to_bytes())
        payload = b"".join(parts)
        if coded.shape[0] * h * w > coded_limit(len(payload)):
            raise Declined(f"{w}x{h} pixels coded in {len(payload)} bytes: below the decoder's "
                           "bound on work per payload byte")
        return payload

    def decode(self, payload: bytes, size: int, progress: Progress = None) -> bytes:
        from archiver.models.image import image_coder
        from cython_ans import Message
        payload = bytes(payload)
        if len(payload) < _HEAD.size:
            raise CorruptChunk("image payload shorter than its header")
        version, flags, w, h = _HEAD.unpack_from(payload)
        if version not in WEIGHTS_BY_VERSION:
            raise CorruptChunk(f"image payload version {version}, this bbx reads "
                               f"{sorted(WEIGHTS_BY_VERSION)}")
        if flags & ~KNOWN_FLAGS or (flags & SCHEME_MASK) not in image_coder.SCHEMES or \
                (flags & F_GREY and flags & F_REPLICATED) or (flags & F_LATTICE and (
                    version < LATTICE_VERSION or flags & (F_GREY | F_REPLICATED))):
            raise CorruptChunk(f"image payload has unknown flags 0x{flags:02x}")
        c = 1 if flags & F_GREY else 3
        has_alpha = bool(flags & F_ALPHA)
        if w < 1 or h < 1 or (c + has_alpha) * h * w > pixel_limit(size):
            raise CorruptChunk(f"image payload declares {w}x{h} pixels for a {size}-byte file")
        coded_c = 1 if flags & (F_GREY | F_REPLICATED) else 3
        if coded_c * h * w > coded_limit(len(payload)):
            raise CorruptChunk(f"image payload of {len(payload)} bytes declares {w}x{h} pixels: "
                               "more than it can code")
        at = _HEAD.size
        side, at = _blob(payload, at, "side bytes")
        alpha = None
        if has_alpha:
            z, at = _blob(payload, at, "alpha")
            try:
                raw = zstandard.ZstdDecompressor().decompress(z, max_output_size=h * w)
            except zstandard.ZstdError as exc:
                raise CorruptChunk(f"image alpha: {exc}") from None
            if len(raw) != h * w:
                raise CorruptChunk(f"image alpha has {len(raw)} bytes, expected {h * w}")
            alpha = np.frombuffer(raw, np.uint8).reshape(h, w)
        try:
            msg = Message.from_bytes(payload[at:], seed=MESSAGE_SEED)
        except ValueError as exc:
            raise CorruptChunk(f"image message: {exc}") from None
        geometry = image_coder.Geometry(h, w)
        planes = image_coder.decode_image(runtime(WEIGHTS_BY_VERSION[version]), msg, coded_c, h,
                                          w, flags & SCHEME_MASK,
                                          _reporter(progress, size, geometry.nblocks),
                                          lattice=bool(flags & F_LATTICE))
        if not msg.is_initial():
            raise CorruptChunk("image message did not decode to its initial state (damaged)")
        if flags & F_REPLICATED:
            planes = np.repeat(planes, 3, 0)
        try:
            out = formats().rebuild(planes, alpha, side)
        except CorruptChunk:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged side bytes must not escape as a crash
            raise CorruptChunk(f"image file rebuild failed ({type(exc).__name__}: {exc})") \
                from None
        if len(out) != size:
            raise CorruptChunk(f"image file rebuilt to {len(out)} bytes, expected {size}")
        return out


def _blob(payload: bytes, at: int, what: str) -> tuple[bytes, int]:
    if at + _LEN.size > len(payload):
        raise CorruptChunk(f"image payload truncated before its {what}")
    (n,) = _LEN.unpack_from(payload, at)
    at += _LEN.size
    if n > len(payload) - at:
        raise CorruptChunk(f"image payload's {what} run past its end")
    return payload[at:at + n], at + n


IMAGE = register(ImageCodec())
