"""requirements.lock: every package the image installs, at one version, with its files' hashes.

`inv lock` writes it from requirements.txt and records which requirements.txt it came from, by
content: a digest of its requirement lines, so that a changed comment or order keeps the lock,
and a changed version, name or option does not.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

LOCK_FILE = "requirements.lock"
HEADER = (
    "# What the image installs: requirements.txt resolved for the image's Python, with the hash of\n"
    "# every file, by `inv lock`. Do not edit it: change requirements.txt and run `inv lock`\n"
    "# (`inv lock --upgrade` moves every package to the newest version requirements.txt allows).\n"
)
DIGEST_LINE = re.compile(r"^# requirements\.txt: sha256:([0-9a-f]{64})$", re.M)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def requirement_lines(requirements: str) -> list[str]:
    """The lines that choose packages, without comments, blanks or spacing, in a stable order."""
    lines = (re.sub(r"(^|\s)#.*", "", line) for line in requirements.splitlines())
    return sorted({re.sub(r"\s+", "", line) for line in lines} - {""})


def requirements_digest(requirements: str) -> str:
    return hashlib.sha256("\n".join(requirement_lines(requirements)).encode()).hexdigest()


def with_header(requirements: str, compiled: str) -> str:
    """The lock as written: the header, the digest of the requirements it came from, uv's output."""
    return f"{HEADER}# requirements.txt: sha256:{requirements_digest(requirements)}\n{compiled.lstrip()}"


def problem(requirements: str, lock: str | None) -> str | None:
    """Why the lock cannot be built from, in one line that says what to do; None when it can."""
    if lock is None:
        return (f"there is no {LOCK_FILE}, which pins what the image installs; run `inv lock` to write it, "
                "then commit it")
    recorded = DIGEST_LINE.search(lock)
    if recorded is None:
        return (f"{LOCK_FILE} was not written by `inv lock` (it has no requirements.txt digest line); "
                "run `inv lock` to rewrite it")
    if recorded.group(1) != requirements_digest(requirements):
        return (f"{LOCK_FILE} is older than requirements.txt, whose requirements have changed since; run `inv lock` "
                "(or `inv reqs --write`), then build again")
    return None


def problem_in(root: Path) -> str | None:
    """`problem` of the project at `root`: its requirements.txt against its lock, if it has one."""
    lock = root / LOCK_FILE
    return problem((root / "requirements.txt").read_text(), lock.read_text() if lock.is_file() else None)


def pins(lock: str) -> dict[str, str]:
    """name -> version of every package the lock pins (names as written)."""
    return {match.group(1).lower(): match.group(2) for match in PIN.finditer(lock)}


def changes(before: str | None, after: str) -> list[str]:
    """What a new lock changes, a line a package: `numpy 2.4.5 -> 2.4.6`, `+ six 1.17.0`, `- tqdm 4.66.0`."""
    old, new = pins(before or ""), pins(after)
    lines = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            lines.append(f"+ {name} {new[name]}")
        elif name not in new:
            lines.append(f"- {name} {old[name]}")
        elif old[name] != new[name]:
            lines.append(f"  {name} {old[name]} -> {new[name]}")
    return lines
