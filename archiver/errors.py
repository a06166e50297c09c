"""Every error bbx reports to a person, each with its own exit code.

As in borg, a class's docstring is its message template (filled with the constructor's
arguments), so the text a user sees lives next to the condition that raises it. The command
line prints `bbx: <message>` on one line and exits with `exit_code`; no traceback.

Exit codes: 0 all is well; 1 warnings only (e.g. skipped special files); 2 usage errors
(typer/click); 10-31 the errors below; 128 + n killed by signal n (130 Ctrl-C, 129 SIGHUP, 143 SIGTERM),
after saying `bbx: interrupted` and removing temporary files.
"""
from __future__ import annotations


class BBXError(Exception):
    """{}"""
    exit_code = 29
    detail = ""     # appended after "; ", e.g. the files a damaged chunk takes with it
    lost: tuple[str, ...] = ()    # every file the damage costs (the message names a few)

    def message(self) -> str:
        try:
            text = (self.__doc__ or "{}").strip().format(*self.args)
        except (IndexError, KeyError, ValueError):  # too few arguments: still say something
            text = " ".join(str(a) for a in self.args) or type(self).__name__
        return f"{text}; {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return self.message()


class UsageError(BBXError):
    """{}"""
    exit_code = 2       # the code typer/click give their own usage errors


class InputNotFound(BBXError):
    """{}: no such file or directory"""
    exit_code = 10


class InputError(BBXError):
    """cannot read {}: {}"""
    exit_code = 11


class OutputError(BBXError):
    """cannot write {}: {}"""
    exit_code = 12


class WouldOverwrite(BBXError):
    """refusing to overwrite {}; use --force to overwrite"""
    exit_code = 13


class NotAnArchive(BBXError):
    """{}: not a bbx archive (wrong magic number)"""
    exit_code = 14


class UnsupportedVersion(BBXError):
    """{}: archive format {} needs a newer bbx (this one reads format {}.x)"""
    exit_code = 15


class UnsupportedFeature(BBXError):
    """{}: {} uses a feature this bbx does not know (reserved bits set); upgrade bbx"""
    exit_code = 15


class CorruptArchive(BBXError):
    """{}: archive is damaged: {}"""
    exit_code = 16


class CorruptChunk(BBXError):
    """chunk data is damaged: {}"""
    exit_code = 17


class DigestMismatch(BBXError):
    """{}: content does not match its SHA-256 (archive damaged or decoder bug)"""
    exit_code = 18


class UnknownCodec(BBXError):
    """chunk {} uses codec id 0x{:02x}, which this bbx does not have; upgrade bbx"""
    exit_code = 19


class UnknownCodecName(BBXError):
    """no codec named {} (this bbx has: {})"""
    exit_code = 19


class MissingDecoder(UnknownCodec):
    """{} chunks need the Python package {}, which cannot be loaded ({}); install it (pip install {}) to extract them"""
    exit_code = 26


class MissingWeights(BBXError):
    """{}: archive needs model weights this bbx does not have ({}); install the bbx version that wrote it"""
    exit_code = 20


class ModelUnavailable(BBXError):
    """the {} model cannot be loaded: {}"""
    exit_code = 20


class UnsafePath(BBXError):
    """refusing {!r}: {}"""
    exit_code = 21


class MemberNotFound(BBXError):
    """{}: no member named {!r} in the archive"""
    exit_code = 22


class LimitExceeded(BBXError):
    """{}: {}"""
    exit_code = 23


class ClusterError(BBXError):
    """cannot code on the Dask cluster {}: {}"""
    exit_code = 24


class MissingLibrary(BBXError):
    """{}"""
    exit_code = 25


class WorkerDied(BBXError):
    """a worker process died while coding a chunk ({}); out of memory? try fewer --jobs"""
    exit_code = 24          # as ClusterError: the workers, not the data, failed


class NameTooLong(BBXError):
    """cannot create {}: a name in it is too long for this file system (255 bytes per name on most); extract elsewhere or rename it in a new archive"""
    exit_code = 27


class DiskFull(BBXError):
    """cannot write {}: no space left on the device; free some space or write elsewhere"""
    exit_code = 28


class DamagedRepairable(BBXError):
    """{}: archive is damaged but repairable ({}); run `bbx repair {}`"""
    exit_code = 30


class Unrepairable(BBXError):
    """{}: damage beyond what the recovery record can repair ({}); lost: {}"""
    exit_code = 31


ALL_ERRORS = [InputNotFound, InputError, OutputError, WouldOverwrite, NotAnArchive,
              UnsupportedVersion, UnsupportedFeature, CorruptArchive, CorruptChunk,
              DigestMismatch, UnknownCodec, UnknownCodecName, MissingDecoder, MissingWeights,
              UnsafePath, MemberNotFound, LimitExceeded, ClusterError, MissingLibrary,
              NameTooLong, DiskFull, WorkerDied, DamagedRepairable, Unrepairable]
