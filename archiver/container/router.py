"""The one content router: the class of a file, decided by its content (never its name).

Each class fills chunks of its own, so a binary file never pulls text away from the text
codec, and whole image and JPEG files reach their codecs as one chunk each. A codec names the
classes it serves (Codec.content_classes); store and zstd serve every class."""
from __future__ import annotations

import codecs as _codecs
import re

IMAGE, JPEG, TEXT, OTHER = "image", "jpeg", "text", "other"
CLASSES = (IMAGE, JPEG, TEXT, OTHER)
# Classes whose files are coded one whole file per chunk (when the file fits in a chunk).
WHOLE_FILE = frozenset({IMAGE, JPEG})
HEAD_BYTES = 64 << 10          # how much of a file the router reads to decide

PRINTABLE = b"\t\n\r\f" + bytes(range(32, 127))
MIN_PRINTABLE_SHARE = 0.9

_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Raster formats an image codec may rebuild exactly: PNG, TIFF (both byte orders); binary
# PGM/PPM and BMP are checked in classify().
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")


def looks_like_text(sample: bytes) -> bool:
    """Valid UTF-8 (a character cut at the end of the sample is fine) without NULs, or at least
    90% printable ASCII (legacy 8-bit encodings, logs with a few control bytes)."""
    if not sample:
        return False
    if b"\x00" not in sample:
        try:
            _codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
            return True
        except UnicodeDecodeError:
            pass
    printable = len(sample) - len(sample.translate(None, PRINTABLE))   # in C, not per byte
    return printable >= MIN_PRINTABLE_SHARE * len(sample)


# "P5"/"P6", then width, height and maxval separated by whitespace or comments: a text file
# that merely starts with "P6" must not become an image.
_PNM_HEADER = re.compile(rb"P[56](?:\s|#[^\n]*\n)+\d+(?:\s|#[^\n]*\n)+\d+(?:\s|#[^\n]*\n)+\d+\s")


def _is_pnm(head: bytes) -> bool:
    return _PNM_HEADER.match(head[:1024]) is not None


def classify(head: bytes) -> str:
    """Class of a file from its first HEAD_BYTES bytes (all of it when shorter)."""
    if head.startswith(_JPEG_SIGNATURE):
        return JPEG
    if head.startswith(_IMAGE_SIGNATURES):
        return IMAGE
    if _is_pnm(head):
        return IMAGE
    if head.startswith(b"BM") and len(head) >= 26 and not looks_like_text(head[:512]):
        return IMAGE
    if looks_like_text(head):
        return TEXT
    return OTHER
