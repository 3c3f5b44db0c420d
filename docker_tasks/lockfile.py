"""requirements.lock: every package the image installs, at one version, with its files' hashes.

`inv lock` writes it from the project's requirements, in whichever form it keeps them
(dependency_source.py), and records which requirements it came from, by content: a digest, so
that a changed comment or order keeps the lock, and a changed version, name or option does not.
"""

from __future__ import annotations

import re

LOCK_FILE = "requirements.lock"
HEADER = (
    "# What the image installs: {label} resolved for the image's Python, with the hash of\n"
    "# every file, by `inv lock`. Do not edit it: {how_to_change}\n"
    "# (`inv lock --upgrade` moves every package to the newest version its requirements allow).\n"
)
# `# requirements.txt: sha256:...`, `# pyproject.toml: sha256:...` or `# uv.lock: sha256:...`
DIGEST_LINE = re.compile(r"^# (?P<source>[\w.-]+): sha256:(?P<digest>[0-9a-f]{64})$", re.M)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def with_header(source, digest: str, compiled: str) -> str:
    """The lock as written: the header, the digest of the requirements it came from (`source`, a
    dependency_source.Source), and the resolver's output."""
    header = HEADER.format(label=source.label, how_to_change=source.how_to_change)
    return f"{header}# {source.kind}: sha256:{digest}\n{compiled.lstrip()}"


def problem(source, digest: str, lock: str | None) -> str | None:
    """Why the lock cannot be built from, in one line that says what to do; None when it can."""
    if lock is None:
        return (f"there is no {LOCK_FILE}, which pins what the image installs; run `inv lock` to write it "
                f"from {source.label}, then commit it")
    recorded = DIGEST_LINE.search(lock)
    if recorded is None:
        return (f"{LOCK_FILE} was not written by `inv lock` (it has no digest line of what it came from); "
                "run `inv lock` to rewrite it")
    if recorded["source"] != source.kind:
        return (f"{LOCK_FILE} was written from {recorded['source']}, and this project's requirements are in "
                f"{source.label} now; run `inv lock`, then build again")
    if recorded["digest"] != digest:
        return (f"{LOCK_FILE} is older than {source.label}, whose requirements have changed since; run `inv lock` "
                f"{'(or `inv reqs --write`), ' if source.kind == 'requirements.txt' else ''}then build again")
    return None


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
