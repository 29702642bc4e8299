"""Every document the repository cites is in the repository, and every cited section exists.

A clone has only what is committed: a comment that points at ``DESIGN.md`` or
``kpa-autoscaler.md §3.3`` of some folder beside the clone sends its reader nowhere. Outside
``docs/`` every ``*.md`` a tracked file names must resolve, relative to that file or to the
repository root, to a file inside the repository; a ``docs/<page>.md §N`` citation must name a
``## N.`` heading of that page. Inside ``docs/`` the pages' own Markdown links must resolve.
Upstream documents are cited by URL (URLs are not checked: they need the network).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = "docs"
#: This file quotes broken citations on purpose, to show that the check catches them.
SELF = str(Path(__file__).resolve().relative_to(REPO))

_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_MD = re.compile(r"(?<![\w.-])((?:\.{1,2}/)?[\w][\w./-]*\.md)(?![\w-])")
_SECTION = re.compile(r"(docs/[\w.-]+\.md)\s*§\s*(\d+)")
_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}


def tracked_files(root: Path) -> list[str]:
    """Repository-relative paths of the tracked files (every file but caches when not a clone)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             check=True, timeout=60).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        return [str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(root).parts)]


def _text(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary (images) or gone from the work tree


def _resolves(root: Path, rel: str, cited: str) -> Path | None:
    """The file ``cited`` names from ``rel``, if it exists inside the repository."""
    for base in ((root / rel).parent, root):
        target = (base / cited).resolve()
        if target.is_file() and target.is_relative_to(root.resolve()):
            return target
    return None


def _sections(page: Path) -> set[str]:
    return set(re.findall(r"^##\s+(\d+)\.", page.read_text(encoding="utf-8"), re.MULTILINE))


def broken_references(root: Path, files: list[str]) -> list[str]:
    """``file: problem`` for every citation in ``files`` that the repository cannot answer."""
    problems = []
    for rel in files:
        text = _text(root, rel)
        if text is None:
            continue
        text = _URL.sub(" ", text)
        if rel.startswith(DOCS + "/"):
            cited = [(m.group(1), None) for m in _LINK.finditer(text)]
        else:
            sections = {m.start(1): m.group(2) for m in _SECTION.finditer(text)}
            cited = [(m.group(1), sections.get(m.start(1))) for m in _MD.finditer(text)]
        for name, section in cited:
            target = _resolves(root, rel, name)
            if target is None:
                problems.append(f"{rel}: cites {name}, which is not in the repository")
            elif section is not None and section not in _sections(target):
                problems.append(f"{rel}: cites {name} §{section}, which has no '## {section}.'")
    return problems


def test_every_cited_document_and_section_is_in_the_repository() -> None:
    problems = broken_references(REPO, [f for f in tracked_files(REPO) if f != SELF])
    assert not problems, "\n".join(problems)


def test_the_check_reports_what_a_clone_lacks(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "kpa.md").write_text("# KPA\n\n## 1. Data flow\n\nSee [q](queueing.md).\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "README.md").write_text("local\n")
    (tmp_path / "pkg" / "mod.py").write_text(
        '"""Facts (kpa-autoscaler.md §2), contract 1 (DESIGN.md), docs/kpa.md §1, docs/kpa.md §7,\n'
        "README.md beside me, ../shared/reference/a1111-api.md, and\n"
        "https://github.com/knative/serving/blob/main/docs/scaling/SYSTEM.md by URL.\"\"\"\n"
    )
    files = ["docs/kpa.md", "pkg/README.md", "pkg/mod.py"]
    assert broken_references(tmp_path, files) == [
        "docs/kpa.md: cites queueing.md, which is not in the repository",
        "pkg/mod.py: cites kpa-autoscaler.md, which is not in the repository",
        "pkg/mod.py: cites DESIGN.md, which is not in the repository",
        "pkg/mod.py: cites docs/kpa.md §7, which has no '## 7.'",
        "pkg/mod.py: cites ../shared/reference/a1111-api.md, which is not in the repository",
    ]
