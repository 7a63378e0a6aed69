"""The files a fresh clone would have, copied out of this working tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_clone_files(repo: Path, copy: Path) -> Path:
    """Copy into ``copy`` the files a clone would have (tracked, or new and not ignored): no .venv,
    database, secret key or caches of this working tree. Returns ``copy``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = repo / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return copy
