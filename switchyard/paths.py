"""Where Switchyard keeps its files: the checkout it runs from, or a per-user data directory.

Run from a checkout (``make run``, ``manage.py``, an editable install), the SQLite database and
the generated secret key stay in the checkout as they always have, and templates and static files
are read from its ``templates/`` and ``static/``. Run from an installed wheel, the same files live
in the package (``switchyard/templates``, ``switchyard/static``: pyproject.toml maps them there)
and the data goes to ``$XDG_DATA_HOME/switchyard`` (default ``~/.local/share/switchyard``), never
the current directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The directory holding the switchyard, console and messaging packages: a checkout, or site-packages.
SOURCE_ROOT = PACKAGE_DIR.parent


def running_from_checkout(root: Path = SOURCE_ROOT) -> bool:
    """True when the code runs from a checkout of the repository rather than an installed wheel.
    A wheel never installs manage.py or pyproject.toml next to its packages."""
    return (root / "manage.py").is_file() and (root / "pyproject.toml").is_file()


def assets_dir(root: Path = SOURCE_ROOT) -> Path:
    """The directory holding ``templates/`` and ``static/``."""
    return root if running_from_checkout(root) else PACKAGE_DIR


def user_data_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/switchyard``, or ``~/.local/share/switchyard`` when XDG_DATA_HOME is unset
    or not absolute (the XDG Base Directory specification says to ignore a relative one)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME", "")
    if not base or not os.path.isabs(base):
        base = str(Path.home() / ".local" / "share")
    return Path(base) / "switchyard"


def data_dir(root: Path = SOURCE_ROOT, environ: dict[str, str] | None = None) -> Path:
    """Where the default SQLite database and the generated secret key live: the checkout itself,
    or the per-user data directory (created, private to the user, on first use)."""
    if running_from_checkout(root):
        return root
    directory = user_data_dir(environ)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def generated_secret_key(key_file: Path) -> str:
    """The key stored in ``key_file``, generated there (mode 0600) on first use.

    Several processes starting at once (``serve`` and ``worker``) get the same key: the file
    appears whole or not at all (written aside, then hard-linked into place, which fails if
    another process got there first)."""
    if not key_file.exists():
        handle, temporary = tempfile.mkstemp(dir=key_file.parent, prefix=".secret_key.")
        try:
            with os.fdopen(handle, "w") as written:
                written.write(secrets.token_urlsafe(50))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, key_file)
        finally:
            os.unlink(temporary)
    return key_file.read_text().strip()
