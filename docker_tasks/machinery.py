"""The line between a fork's own files and the machinery it takes from upstream, and the plan of an upgrade.

docker_tasks/MACHINERY lists the machinery's paths; everything else is the fork's. An upgrade
compares three versions of each machinery file: upstream's at the commit the fork last took
(`base`), upstream's newest (`theirs`) and the fork's (`ours`), each a git blob id or None where
the file is absent, and decides per file, as git's own three-way merge does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from docker_tasks.errors import TaskError

MANIFEST = "docker_tasks/MACHINERY"
VERSION_FILE = "docker_tasks/__init__.py"
CHANGELOG = "docker_tasks/CHANGELOG.md"
# The fork's record of the upstream commit its machinery follows; the fork's own file.
RECORD = ".upstream"


@dataclass(frozen=True)
class Entry:
    path: str  # a file, or a folder ending in /
    optional: bool = False

    def covers(self, path: str) -> bool:
        return path.startswith(self.path) if self.path.endswith("/") else path == self.path


def parse_manifest(text: str) -> list[Entry]:
    """The manifest's entries: one path a line, `optional` after it for an extra a fork may delete."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1] != "optional") or words[0].startswith("/"):
            raise TaskError(f"{MANIFEST}, line {number}: expected `PATH` or `PATH optional`, not {line.strip()!r}")
        entries.append(Entry(words[0], optional=len(words) == 2))
    return entries


def entry_for(entries: Iterable[Entry], path: str) -> Entry | None:
    """The entry that makes `path` machinery, or None: then the path is the fork's own."""
    return next((entry for entry in entries if entry.covers(path)), None)


def version(init_text: str) -> str:
    """The machinery's version, from docker_tasks/__init__.py's `__version__`."""
    found = re.search(r'^__version__ = "([^"]+)"', init_text, re.M)
    return found.group(1) if found else "unknown"


@dataclass(frozen=True)
class Record:
    """Where the fork's machinery comes from, and the upstream commit it now follows."""
    source: str
    ref: str
    commit: str
    version: str

    def text(self) -> str:
        return ("# The upstream commit this fork's machinery follows: written by `inv upgrade`, "
                "read by `inv upgrade --check`.\n"
                f"source = {self.source}\nref = {self.ref}\ncommit = {self.commit}\nversion = {self.version}\n")


def parse_record(text: str) -> Record | None:
    """The record in `text`, or None when it lacks a commit (then the fork's history decides)."""
    values = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))
    if not re.fullmatch(r"[0-9a-f]{40}", values.get("commit", "").strip()):
        return None
    return Record(values.get("source", "").strip(), values.get("ref", "").strip() or "HEAD",
                  values["commit"].strip(), values.get("version", "").strip())


# What an upgrade does to one file.
TAKE = "take"          # the fork has upstream's old version: write upstream's new one (or add it)
REMOVE = "remove"      # upstream removed a file the fork kept as it was
MERGE = "merge"        # both changed it: a three-way merge, which may leave conflicts
KEPT = "kept"          # upstream removed a file the fork changed: the fork's stays, to delete by hand
SKIPPED = "skipped"    # an optional extra the fork has deleted


@dataclass(frozen=True)
class Step:
    path: str
    action: str
    mode: str | None = None  # upstream's git file mode, for TAKE and MERGE

    def line(self) -> str:
        return {
            TAKE: f"update {self.path}",
            REMOVE: f"remove {self.path} (upstream removed it)",
            MERGE: f"merge  {self.path} (changed here and upstream)",
            KEPT: f"keep   {self.path}: upstream removed it, but this fork changed it; delete it if nothing needs it",
            SKIPPED: f"skip   {self.path} (this fork removed {self.path.split('/')[0]}/)",
        }[self.action]


Tree = Mapping[str, tuple[str, str]]  # path -> (git file mode, blob id)


def plan(entries: list[Entry], base: Tree, theirs: Tree, ours: Tree) -> list[Step]:
    """The steps that bring the fork's machinery files from `base` to `theirs`, path by path.

    `entries` is upstream's newest manifest; a path the older one listed and upstream then removed
    is machinery too, since `base` holds it. An optional folder the fork holds no file of stays out."""
    def is_machinery(path: str) -> bool:
        return entry_for(entries, path) is not None or path in base

    def removed_by_fork(path: str) -> bool:
        entry = entry_for(entries, path)
        return bool(entry and entry.optional and not any(entry.covers(held) for held in ours))

    steps = []
    for path in sorted(p for p in set(base) | set(theirs) if is_machinery(p)):
        old, new, held = base.get(path), theirs.get(path), ours.get(path)
        if new in (old, held):
            continue  # upstream did not change it, or the fork already has upstream's new version
        if removed_by_fork(path):
            steps.append(Step(path, SKIPPED))
        elif held == old:
            steps.append(Step(path, REMOVE) if new is None else Step(path, TAKE, new[0]))
        elif new is None:
            steps.append(Step(path, KEPT))
        else:
            steps.append(Step(path, MERGE, new[0]))
    return steps


def summary(steps: list[Step], conflicts: Mapping[str, int]) -> list[str]:
    """One line a file: what the upgrade did, and where a merge left conflicts to resolve."""
    lines = []
    for step in steps:
        if step.action == MERGE and conflicts.get(step.path):
            count = conflicts[step.path]
            lines.append(f"CONFLICT {step.path}: {count} conflict{'s' * (count > 1)}, marked <<<<<<< in the file; "
                         "keep what you need of both sides, then `git add` it")
        else:
            lines.append(step.line())
    return lines
