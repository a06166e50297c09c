"""One line instead of a traceback when a benchmark's training or held-out data is missing."""
from __future__ import annotations

import sys
from pathlib import Path

MAKE_TEXT = "python -m archiver.train.text_data"
MAKE_IMAGE = "python -m archiver.train.image prepare"


def require(path, make: str) -> None:
    """Exit (code 2) with one line naming the missing path and the command that makes it."""
    if not Path(path).exists():
        script = Path(sys.argv[0]).name
        print(f"{script}: needs {path} (prepared data, not shipped); make it with `{make}`",
              file=sys.stderr)
        sys.exit(2)
