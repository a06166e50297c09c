"""Which entries a list of member patterns selects, as `tar --wildcards` and 7z users expect.

A pattern selects an entry when it names the entry or one of its parent directories (so a
directory selects everything under it). Patterns may use shell wildcards (`*`, `?`, `[...]`;
`*` also matches `/`, as in tar); a pattern without `/` (like `'*.png'`) also matches the last
component of a path, at any depth. A leading `./` and trailing `/` are ignored, so
`./photos/2019/` and `photos/2019` are the same pattern."""
from __future__ import annotations

import fnmatch
import os
import re

_WILD = re.compile(rb"[*?[]")


def normalise(pattern: str | bytes) -> bytes:
    p = os.fsencode(pattern)
    while p.startswith(b"./"):
        p = p[2:].lstrip(b"/")
    p = p.rstrip(b"/")
    return b"" if p == b"." else p


class Pattern:
    def __init__(self, text: str | bytes):
        self.text = text
        self.raw = normalise(text)
        self.wild = bool(_WILD.search(self.raw))
        self.by_name = self.wild and b"/" not in self.raw
        # fnmatch translates str; latin-1 maps each byte to one character and back.
        self._re = (re.compile(fnmatch.translate(self.raw.decode("latin-1")).encode("latin-1"))
                    if self.wild else None)

    def _hit(self, path: bytes) -> bool:
        if not self.raw:                       # "." or "./": everything
            return True
        if path == self.raw:
            return True
        if self._re is None:
            return False
        return bool(self._re.match(path) or
                    (self.by_name and self._re.match(path.rsplit(b"/", 1)[-1])))

    def matches(self, path: bytes) -> bool:
        """The entry itself or one of its parent directories matches."""
        if self._hit(path):
            return True
        cut = path.rfind(b"/")
        while cut > 0:
            if self._hit(path[:cut]):
                return True
            cut = path.rfind(b"/", 0, cut)
        return False


def select(entries, patterns) -> tuple[list, list[str | bytes]]:
    """(entries selected by any pattern, in their order; patterns that matched nothing)."""
    compiled = [Pattern(p) for p in patterns]
    used = [False] * len(compiled)
    out = []
    for e in entries:
        hit = False
        for i, p in enumerate(compiled):
            if p.matches(e.path):
                used[i] = hit = True
        if hit:
            out.append(e)
    return out, [p.text for p, u in zip(compiled, used) if not u]
