"""Owner-only files: the data dir, the secret key and the SQLite database hold what others must not read."""

from __future__ import annotations

import os
from pathlib import Path


def owner_only(path: Path, mode: int) -> None:
    """Take group and other access away from a file or directory of ours (`mode` is 0600 or 0700).

    Only what this user owns is touched, and only when it is more open than `mode`.
    """
    if not hasattr(os, "getuid"):  # Windows: POSIX modes do not apply
        return
    try:
        status = path.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass
