"""Codecs: a registry keyed by stable one-byte ids, one module per codec."""
from archiver.codecs.base import Codec
from archiver.codecs.registry import all_codecs, by_name, get, register

__all__ = ["Codec", "all_codecs", "by_name", "get", "register"]
