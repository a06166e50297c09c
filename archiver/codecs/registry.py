"""Codecs keyed by their one-byte id. Modules in BUILTIN_MODULES register themselves on import;
a codec module adds one line here."""
from __future__ import annotations

import importlib

from archiver.codecs.base import Codec

BUILTIN_MODULES = [
    "archiver.codecs.store",
    "archiver.codecs.zstd_codec",
    "archiver.codecs.text",
    "archiver.codecs.image",
    "archiver.codecs.jpeg",
]

_BY_ID: dict[int, Codec] = {}
_loaded = False


def register(codec: Codec) -> Codec:
    cid = codec.codec_id
    if not 0 <= cid <= 0xFF:
        raise ValueError(f"codec {codec.name}: id {cid} does not fit one byte")
    other = _BY_ID.get(cid)
    if other is not None and type(other) is not type(codec):
        raise ValueError(f"codec id 0x{cid:02x} claimed by both {other.name} and {codec.name}")
    _BY_ID[cid] = codec
    return codec


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def get(codec_id: int) -> Codec:
    """The codec with this id; KeyError if this bbx has none."""
    _load_builtins()
    return _BY_ID[codec_id]


def by_name(name: str) -> Codec:
    _load_builtins()
    for codec in _BY_ID.values():
        if codec.name == name:
            return codec
    raise KeyError(name)


def all_codecs() -> list[Codec]:
    """Every registered codec, ordered by id."""
    _load_builtins()
    return [_BY_ID[k] for k in sorted(_BY_ID)]
