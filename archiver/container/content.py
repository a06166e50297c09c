"""Stream the content of selected files out of an archive, checking every file's SHA-256
before handing it over. Chunks are decoded ahead in the one pool (archiver/container/pool.py,
`jobs` workers, a bounded number in flight) and delivered to the sinks in archive order. A
damaged chunk costs only the files that touch it; the error names the chunk and those files."""
from __future__ import annotations

import hashlib
from typing import Callable, Protocol

from archiver.container.pool import Pool, Task
from archiver.container.reader import ArchiveReader, decode_chunk
from archiver.container.records import Entry
from archiver.errors import BBXError, CorruptArchive, CorruptChunk, DigestMismatch, UnknownCodec

NAMED_FILES = 5


class Sink(Protocol):
    def write(self, data: memoryview) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def mark_lost(exc: BBXError, names: list[str]) -> None:
    """Name the files `exc` costs: a few in its message, all of them in exc.lost (--json)."""
    exc.detail = lost_files_message(names)
    exc.lost = tuple(names)


def lost_files_message(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED_FILES])
    more = f" and {len(names) - NAMED_FILES} more" if len(names) > NAMED_FILES else ""
    return f"lost: {shown}{more}" if names else "no selected file uses it"


def _decode_tasks(reader: ArchiveReader, order: list[int]):
    """A decode task per chunk, in order; a chunk whose payload fails its checks here is a
    task already failed."""
    for seq, i in enumerate(order):         # seq: the pool numbers tasks in this order
        c = reader.chunks[i]
        try:
            payload = reader.read_stored(i)
        except CorruptChunk as exc:
            yield Task(decode_chunk, (), ref=i, error=exc)
            continue
        yield Task(decode_task, (seq, i, c.offset, c.codec_id, payload, c.raw_size), c.raw_size,
                   ref=i)


def decode_task(seq: int, index: int, offset: int, codec_id: int, payload: bytes,
                raw_size: int) -> bytes:
    """decode_chunk for pool task `seq` (in a worker or inline): the codec's progress from
    inside its work reaches the pool's progress object."""
    from archiver.container.pool import task_progress
    return decode_chunk(index, offset, codec_id, payload, raw_size, task_progress(seq))


def stream_files(reader: ArchiveReader, files: list[Entry], open_sink: Callable[[Entry], Sink],
                 on_bytes: Callable[[int], None] = lambda n: None,
                 jobs: int | None = 1, progress=None) -> list[BBXError]:
    """Feed each file's content to its sink; return the errors met (the rest went through).
    `on_bytes` hears of file bytes as they are written; `progress` (the pool's progress
    protocol) of chunk bytes as the codecs decode them."""
    errors: list[BBXError] = []
    selected = {id(e) for e in files}
    bad_chunks: dict[int, BBXError] = {}
    cached: tuple[int, bytes] | None = None
    lost: set[int] = set()
    files = sorted(files, key=lambda e: reader.content_span(e))
    order = list(dict.fromkeys(i for e in files for i in reader.chunks_of(e)))
    decoded = Pool(jobs, progress=progress).map(_decode_tasks(reader, order))

    def chunk(i: int) -> memoryview | None:
        nonlocal cached
        if i in bad_chunks:
            return None
        if cached is None or cached[0] != i:
            cached = None
            for task, fut in decoded:        # chunks come in order; skip those nobody needs now
                if task.ref == i:
                    break
            else:       # passed already: only overlapping spans ask for that, refused below
                raise AssertionError(f"chunk {i} requested out of order")
            try:
                cached = (i, fut.result())
            except (CorruptChunk, UnknownCodec) as exc:
                victims = [e for e in reader.chunk_files(i) if id(e) in selected]
                lost.update(id(e) for e in victims)
                mark_lost(exc, [e.name for e in victims])
                bad_chunks[i] = exc
                errors.append(exc)
                return None
        return memoryview(cached[1])

    try:
        end = 0
        for e in files:
            if id(e) in lost:
                continue
            start, stop = reader.content_span(e)
            if start < end and stop > start:
                # a writer never overlaps two files' content (nothing is shared); a hostile
                # index can, and would ask for chunks the stream has passed
                errors.append(CorruptArchive(reader.path, f"entry {e.name}: its content "
                                                          "overlaps the file before it"))
                continue
            end = max(end, stop)
            try:
                sink = open_sink(e)
            except BBXError as exc:
                errors.append(exc)
                continue
            try:
                ok = _feed(reader, e, sink, chunk, on_bytes, errors)
            except BaseException:      # interrupted or the disk failed: leave no partial file
                sink.abort()
                raise
            if ok:
                sink.commit()
            else:
                sink.abort()
    finally:
        decoded.close()                # stops the workers (kills them when interrupted)
    return errors


def _feed(reader: ArchiveReader, e: Entry, sink: Sink, chunk, on_bytes, errors) -> bool:
    """Copy one file's content into its sink; True when all of it arrived and matches."""
    start, end = reader.content_span(e)
    sha = hashlib.sha256()
    for i in reader.chunks_of(e):
        data = chunk(i)
        if data is None:
            return False
        c = reader.chunks[i]
        piece = data[max(start, c.raw_start) - c.raw_start:min(end, c.raw_start + c.raw_size) - c.raw_start]
        sha.update(piece)
        sink.write(piece)
        on_bytes(len(piece))
    if sha.digest() != e.sha256:
        errors.append(DigestMismatch(e.name))
        return False
    return True
