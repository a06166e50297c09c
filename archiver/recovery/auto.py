"""Extracting through the recovery record: when an archive's blocks disagree with its record's
CRCs and the record can undo that, the archive is repaired into a temporary copy (in the temp
directory, tracked so that a signal removes it too) and read from there; the user's archive is
never written. Damage beyond the record leaves extraction on the archive as it is (every
undamaged file still extracts, what is lost is named)."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass

from archiver import tempfiles
from archiver.errors import BBXError
from archiver.recovery.record import Damage
from archiver.recovery.repair import open_checked, repair


@dataclass
class AutoRepair:
    path: bytes | str                 # where to read the archive from: it, or the repaired copy
    damage: Damage | None = None      # None: no recovery record
    repaired_bytes: int = 0           # archive bytes rebuilt in the copy (0: read the archive)
    failed: BBXError | None = None    # the repair that was tried and failed (then: the archive)

    def note(self, name: str) -> str | None:
        """The one line that says what happened (None: nothing to say)."""
        dmg = self.damage
        if dmg is None or not dmg.damaged:
            return None
        if self.repaired_bytes:
            return (f"{name}: archive damaged ({dmg.summary()}); repaired {self.repaired_bytes} "
                    "bytes from its recovery record into a temporary copy, extracting from that "
                    "(the archive is left as it is; `bbx repair` fixes it for good)")
        if self.failed is not None:
            return (f"{name}: archive damaged ({dmg.summary()}); repair from its recovery "
                    f"record failed ({self.failed.message()}); extracting what is undamaged")
        if dmg.repairable:          # only the record itself is hit: the archive reads as is
            return (f"{name}: its recovery record is damaged ({dmg.summary()}), the archive's "
                    f"own bytes are not; `bbx repair {name}` renews the record")
        return None                 # beyond the record: extraction names what is lost


@contextlib.contextmanager
def repaired(path: bytes | str):
    """Yield an AutoRepair whose `path` holds the archive's bytes as repaired as its recovery
    record allows; a temporary copy is removed on leaving (error, signal or not)."""
    try:
        fd, rec, dmg = open_checked(path)
        os.close(fd)
    except (BBXError, OSError):     # not a readable file: the reader says so, as without a record
        dmg = None
    if dmg is None or not dmg.bad_data or not dmg.repairable:
        yield AutoRepair(path, dmg)
        return
    tmp = tempfile.mkdtemp(prefix="bbx-repair-")
    token = tempfiles.track(os.fsencode(tmp))
    try:
        copy = os.path.join(tmp, "repaired.bbx")
        try:
            report = repair(path, copy)
            b = dmg.head.block_size
            fixed = sum(min(b, dmg.head.protected - i * b) for i in dmg.bad_data)
            result = AutoRepair(copy, report.damage, repaired_bytes=fixed)
        except BBXError as exc:    # e.g. bytes the SHA-256 disowns, or no temporary space
            result = AutoRepair(path, dmg, failed=exc)
        yield result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        tempfiles.forget(token)
