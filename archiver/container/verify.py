"""Check an archive: `quick` reads every chunk and checks its block header and CRC; the full
check also decodes every chunk and checks every file's SHA-256. Both report every member that
extraction would refuse (unsafe paths and links, duplicate names), so verify exits 0 only on
an archive that extracts completely."""
from __future__ import annotations

from dataclasses import dataclass, field

from archiver.codecs import registry
from archiver.container.content import mark_lost, stream_files
from archiver.container.extract import refused
from archiver.container.reader import ArchiveReader
from archiver.container.records import FILE
from archiver.container.weights_check import require_weights
from archiver.recovery.repair import assess
from archiver.errors import BBXError, CorruptChunk, UnknownCodec


@dataclass
class VerifyReport:
    chunks: int = 0
    files: int = 0
    bytes: int = 0
    errors: list[BBXError] = field(default_factory=list)
    recovery: object = None     # archiver.recovery.record.Damage: the record's check, if any

    @property
    def ok(self) -> bool:
        return not self.errors


class _Discard:
    def write(self, data) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def verify(reader: ArchiveReader, quick: bool = False, on_bytes=lambda n: None,
           jobs: int | None = None, progress=None) -> VerifyReport:
    report = VerifyReport(chunks=len(reader.chunks), errors=list(reader.problems))
    report.recovery, verdict = assess(reader.f.name)
    if verdict is not None:         # first: its exit code says whether bbx repair can help
        report.errors.insert(0, verdict)
    report.errors += refused(reader.entries)[1]     # what extract would refuse to create
    files = [e for e in reader.entries if e.type == FILE]
    report.files = len(files)
    report.bytes = sum(e.size for e in files)
    if quick:
        for i, c in enumerate(reader.chunks):
            try:
                reader.read_stored(i)
                reader.check_ratio(i, registry.get(c.codec_id))
            except KeyError:
                report.errors.append(UnknownCodec(i, c.codec_id))
            except CorruptChunk as exc:
                mark_lost(exc, [e.name for e in reader.chunk_files(i)])
                report.errors.append(exc)
            on_bytes(c.raw_size)
        return report
    try:
        require_weights(reader.path, reader.model_hashes)
    except BBXError as exc:
        report.errors.append(exc)
        return report
    report.errors += stream_files(reader, files, lambda e: _Discard(), on_bytes, jobs, progress)
    return report
