"""A copy of the repository laid out as a user's fresh clone: no ``../shared``, no state.

It holds what ``git clone`` gives (tracked files) plus files not yet committed and not ignored,
so a test sees the working tree a developer is about to commit; ``.venv``, ``.sdobs`` and
other ignored paths stay behind. Commands run in it with the test's own virtualenv and with the
copy's sources first on ``PYTHONPATH``, so the copy's code is what runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def files() -> list[str]:
    """The repository's files, relative to its root, as a clone (plus local edits) has them."""
    if (REPO / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]
    skip = {".venv", ".sdobs", ".git", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(REPO).parts)]


def make_clone(parent: Path, name: str = "sdobs") -> Path:
    """Copy the repository into ``parent/name``; ``parent`` must not hold a ``shared`` folder."""
    if (parent / "shared").exists():
        raise ValueError(f"{parent} has a shared/ folder; a fresh clone has none beside it")
    root = parent / name
    for rel in files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    return root


def env(clone: Path, **extra: str) -> dict[str, str]:
    """The environment for commands in ``clone``: its sources first, this test's virtualenv.

    ``./run`` in the clone uses this virtualenv as it is only when ``./run`` installed it for
    the same pinned packages (its stamp); otherwise it would reinstall it, pointing it at the
    clone, so the test stops first and says how to refresh it.
    """
    venv = Path(sys.executable).parent.parent
    want = hashlib.sha256((clone / "pyproject.toml").read_bytes()
                          + (clone / "constraints.txt").read_bytes()).hexdigest()
    stamp = venv / ".sdobs-installed"
    have = (stamp.read_text().split() or [""])[0] if stamp.is_file() else ""
    if have != want:
        pytest.fail(f"{venv} was not installed by ./run for this pyproject.toml and "
                    "constraints.txt; run the suite with ./run test, which installs them first")
    path = os.pathsep.join([str(clone), str(clone / "exporters")])
    return {**os.environ, "PYTHONPATH": path, "SDOBS_VENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", **extra}
