"""Chunk sizes and class order come from the input's class sizes alone (never --jobs)."""
from archiver.container import chunking
from archiver.container.router import IMAGE, JPEG, OTHER, TEXT

MiB = 1 << 20


def test_text_is_cut_in_parts_within_its_floor_and_the_limit():
    floor = chunking.MIN_CHUNK[TEXT]
    assert chunking.chunk_size(TEXT, 100 * MiB, 16 * MiB) == -(-100 * MiB // chunking.PARTS)
    assert chunking.chunk_size(TEXT, 1 << 30, 16 * MiB) == 16 * MiB          # the limit
    assert chunking.chunk_size(TEXT, floor, 16 * MiB) == floor               # never below
    assert chunking.chunk_size(TEXT, 10 * MiB, 64 << 10) == 64 << 10         # a smaller limit
    assert chunking.chunk_size(OTHER, 100 * MiB, 16 * MiB) == 16 * MiB       # zstd: whole


def test_classes_are_written_longest_chunk_first():
    totals = {OTHER: 4 * MiB, TEXT: 3 * MiB, JPEG: MiB}
    largest = {OTHER: MiB, TEXT: MiB, JPEG: 300 << 10}
    sizes = {c: chunking.chunk_size(c, t, 16 * MiB) for c, t in totals.items()}
    # 3 MiB of text in 384 KiB chunks (~0.5 s each) after the 4 MiB zstd chunk (~2.3 s)
    assert chunking.class_order(totals, sizes, largest) == [OTHER, TEXT, JPEG]
    totals[TEXT] = 100 * MiB                     # 12.5 MiB text chunks (~16 s each) first
    sizes[TEXT] = chunking.chunk_size(TEXT, totals[TEXT], 16 * MiB)
    assert chunking.class_order(totals, sizes, largest) == [TEXT, OTHER, JPEG]
    totals[IMAGE], largest[IMAGE], sizes[IMAGE] = 4 * MiB, 4 * MiB, 16 * MiB
    assert chunking.class_order(totals, sizes, largest)[:2] == [TEXT, IMAGE]   # a big photo
    largest[IMAGE] = 16 * MiB
    assert chunking.class_order(totals, sizes, largest)[0] == IMAGE


def test_one_part_keeps_a_class_in_as_few_chunks_as_the_limit_allows():
    assert chunking.chunk_size(TEXT, 3 * MiB, 16 * MiB, parts=1) == 3 * MiB     # all of it
    assert chunking.chunk_size(TEXT, 100 * MiB, 64 * MiB, parts=1) == 64 * MiB


def test_photos_and_jpegs_come_largest_first_within_their_class(tmp_path):
    """Whole-file classes are one chunk per file: the biggest goes first so that it is not
    the one worker still busy at the end; text keeps name order (similar files side by side)."""
    from archiver.container.scanner import Excluder, scan
    from archiver.container.writer import _content_order
    from jpeg_samples import photo, save
    for name, side in (("a.jpg", 16), ("b.jpg", 96), ("c.jpg", 48)):
        (tmp_path / name).write_bytes(save(photo(side, side)))
    for name in ("x.txt", "y.txt"):
        (tmp_path / name).write_text("words and more words\n" * (50 if name == "x.txt" else 500))
    order, _ = _content_order(scan([str(tmp_path)], Excluder([])), 16 * MiB)
    names = [(cls, item.entry.path.rsplit(b"/", 1)[-1]) for cls, item in order]
    assert [n for c, n in names if c == JPEG] == [b"b.jpg", b"c.jpg", b"a.jpg"]
    assert [n for c, n in names if c == TEXT] == [b"x.txt", b"y.txt"]
