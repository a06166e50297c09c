"""bbx: a lossless archiver whose codecs are learned models driving an exact rANS coder."""
__version__ = "0.1.0"


def create(*args, **kwargs):
    """Archive files and directories: see archiver.api.create."""
    from archiver.api import create as _create
    return _create(*args, **kwargs)


def open(path, repair: bool = False):  # noqa: A001 - archiver.open mirrors the builtin on purpose
    """Open an archive for listing, verifying and extracting (with `repair`: from a temporary
    copy repaired by its recovery record, when it is damaged): see archiver.api.Archive."""
    from archiver.api import open as _open
    return _open(path, repair)


def repair(path, output=None, force: bool = False):
    """Repair a damaged archive from its recovery record: see archiver.api.repair."""
    from archiver.api import repair as _repair
    return _repair(path, output, force)
