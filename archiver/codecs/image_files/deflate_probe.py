"""Reading what a deflate stream says about the compressor that wrote it, without inflating it
all: the first block's type, symbol count (zlib ends a block when its symbol buffer is full,
and that buffer's size is set by memLevel), farthest match distance (a lower bound on the
window) and kind of matches (none: Huffman-only; distance 1 only: RLE). Also the exact layout
of streams made only of stored blocks (level 0), whose block sizes depend on the writer's
buffers rather than on any zlib parameter."""
from __future__ import annotations

from dataclasses import dataclass

# RFC 1951 tables.
_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
             99, 115, 131, 163, 195, 227, 258)
_LEN_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5,
              5, 0)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)
_DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
               12, 12, 13, 13)
_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
_FIXED_LIT = [8] * 144 + [9] * 112 + [7] * 24 + [8] * 8
_FIXED_DIST = [5] * 30


class _Bad(Exception):
    pass


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data + b"\0\0\0\0"      # peeks may read past the end; reads may not
        self.limit = len(data) * 8
        self.pos = 0

    def peek(self, n: int) -> int:
        p = self.pos
        word = int.from_bytes(self.data[p >> 3:(p >> 3) + 4], "little")
        return (word >> (p & 7)) & ((1 << n) - 1)

    def read(self, n: int) -> int:
        if self.pos + n > self.limit:
            raise _Bad("stream ends early")
        v = self.peek(n)
        self.pos += n
        return v


def _table(lengths: list[int]) -> tuple[list, int]:
    """Decode table indexed by the next max-length bits (LSB first): (symbol, length)."""
    maxlen = max(lengths) if lengths else 0
    if maxlen == 0:
        raise _Bad("empty code")
    counts = [0] * 16
    for n in lengths:
        counts[n] += 1
    counts[0] = 0
    code, next_code = 0, [0] * 16
    for bits in range(1, 16):
        code = (code + counts[bits - 1]) << 1
        next_code[bits] = code
    table = [None] * (1 << maxlen)
    for sym, n in enumerate(lengths):
        if not n:
            continue
        c = next_code[n]
        next_code[n] += 1
        if c >= 1 << n:
            raise _Bad("over-subscribed code")
        rev = int(format(c, f"0{n}b")[::-1], 2)
        for fill in range(rev, 1 << maxlen, 1 << n):
            table[fill] = (sym, n)
    return table, maxlen


def _decode(bits: _Bits, table: list, maxlen: int) -> int:
    entry = table[bits.peek(maxlen)]
    if entry is None:
        raise _Bad("invalid code")
    sym, n = entry
    bits.read(n)
    return sym


def _dynamic_tables(bits: _Bits):
    hlit, hdist, hclen = bits.read(5) + 257, bits.read(5) + 1, bits.read(4) + 4
    cl = [0] * 19
    for i in range(hclen):
        cl[_CL_ORDER[i]] = bits.read(3)
    cl_table, cl_max = _table(cl)
    lengths: list[int] = []
    while len(lengths) < hlit + hdist:
        sym = _decode(bits, cl_table, cl_max)
        if sym < 16:
            lengths.append(sym)
        elif sym == 16:
            if not lengths:
                raise _Bad("repeat with nothing before")
            lengths += [lengths[-1]] * (3 + bits.read(2))
        elif sym == 17:
            lengths += [0] * (3 + bits.read(3))
        else:
            lengths += [0] * (11 + bits.read(7))
    if len(lengths) > hlit + hdist:
        raise _Bad("code lengths overrun")
    lit, dist = lengths[:hlit], lengths[hlit:]
    lit_t = _table(lit)
    dist_t = _table(dist) if any(dist) else (None, 0)
    return lit_t, dist_t


@dataclass(frozen=True)
class FirstBlock:
    btype: int            # 0 stored, 1 fixed, 2 dynamic
    final: bool
    symbols: int          # literals + matches (end-of-block not counted); 0 for stored;
                          # more than max_symbols: a longer block, not read to its end
    matches: int
    max_distance: int
    only_distance_one: bool
    out_length: int       # bytes of inflated data the block holds
    end_bit: int          # bit position just after the block


def first_block(raw: bytes, max_symbols: int = 1 << 16) -> FirstBlock | None:
    """The first block of a raw deflate stream, or None if it cannot be read (compiled:
    _probe.pyx, the reader below in C)."""
    from archiver.codecs.image_files import _probe
    return _probe.first_block(raw, max_symbols)


def first_block_py(raw: bytes, max_symbols: int = 1 << 16) -> FirstBlock | None:
    """first_block in Python: the specification the compiled reader is tested against."""
    try:
        bits = _Bits(raw)
        final, btype = bits.read(1), bits.read(2)
        if btype == 0:
            bits.pos = (bits.pos + 7) & ~7
            length, nlength = bits.read(16), bits.read(16)
            if length ^ 0xFFFF != nlength:
                return None
            return FirstBlock(0, bool(final), 0, 0, 0, False, length, bits.pos + 8 * length)
        if btype == 3:
            return None
        if btype == 1:
            lit_table, lit_max = _table(_FIXED_LIT)
            dist_table, dist_max = _table(_FIXED_DIST)
        else:
            (lit_table, lit_max), (dist_table, dist_max) = _dynamic_tables(bits)
        symbols = matches = max_dist = out = 0
        only_one = True
        while symbols <= max_symbols:
            sym = _decode(bits, lit_table, lit_max)
            if sym < 256:
                out += 1
            elif sym == 256:
                return FirstBlock(btype, bool(final), symbols, matches, max_dist,
                                  only_one and matches > 0, out, bits.pos)
            else:
                sym -= 257
                if sym >= 29 or dist_table is None:
                    return None
                out += _LEN_BASE[sym] + bits.read(_LEN_EXTRA[sym])
                d = _decode(bits, dist_table, dist_max)
                if d >= 30:
                    return None
                dist = _DIST_BASE[d] + bits.read(_DIST_EXTRA[d])
                matches += 1
                max_dist = max(max_dist, dist)
                only_one = only_one and dist == 1
            symbols += 1
        # Longer than any zlib symbol buffer (zlib-ng's level 1 writes such blocks): say so
        # without reading on.
        return FirstBlock(btype, bool(final), symbols, matches, max_dist,
                          only_one and matches > 0, out, -1)
    except _Bad:
        return None


def stored_blocks(raw: bytes) -> list[int] | None:
    """Lengths of the blocks of a stream made only of stored blocks, the last one final and
    each header a single 0x00/0x01 byte (zero padding), or None. Returns the lengths; the
    stream is then exactly `stored_stream(lengths, data)`."""
    lengths, at = [], 0
    while True:
        if at + 5 > len(raw) or raw[at] not in (0, 1):
            return None
        length = int.from_bytes(raw[at + 1:at + 3], "little")
        if int.from_bytes(raw[at + 3:at + 5], "little") != length ^ 0xFFFF:
            return None
        at += 5 + length
        if at > len(raw):
            return None
        lengths.append(length)
        if raw[at - 5 - length] == 1:
            return lengths if at == len(raw) else None


def stored_stream(lengths: list[int], data: bytes) -> bytes:
    """The stored-block stream of `data` cut into blocks of `lengths` (the last one final)."""
    out, at = bytearray(), 0
    for i, n in enumerate(lengths):
        out.append(1 if i == len(lengths) - 1 else 0)
        out += n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little")
        out += data[at:at + n]
        at += n
    return bytes(out)
