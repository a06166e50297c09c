"""Does this bbx hold the model weights an archive was written with?"""
from __future__ import annotations

from archiver.codecs import registry
from archiver.errors import MissingWeights


def installed_hashes() -> set[str]:
    out: set[str] = set()
    for codec in registry.all_codecs():
        try:
            out.update(codec.decodable_hashes())
        except Exception:  # noqa: BLE001 - weights missing or damaged: their hash is not installed
            continue
    return out


def require_weights(archive_path: str, needed: list[str]) -> None:
    if not needed:                     # store/zstd only: no weights to load and hash
        return
    installed = installed_hashes()
    missing = [h for h in needed if h not in installed]
    if missing:
        raise MissingWeights(archive_path, ", ".join(f"SHA-256 {h[:16]}..." for h in missing))
