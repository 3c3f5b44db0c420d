"""Run records: a small JSON file beside the outputs of every `inv run`, and `inv runs` to list them.

A record says what ran (image reference and id, its git commit and dirty flag), with what (the
arguments, the env-file and --env keys but never their values, the mounted inputs with their
sizes and hashes), when, on which architecture, and how it ended; tables.run_rows shows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from docker_tasks import labels, stores

PREFIX = "run-record-"


def file_digest(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def fingerprint(path: Path) -> dict:
    """Size and SHA-256 of a mounted file, or of a folder's files (hashed by relative path and content)."""
    if path.is_file():
        return {"path": str(path), "bytes": path.stat().st_size, "sha256": file_digest(path), "files": 1}
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path)}\0{file_digest(file)}\n".encode())
    return {"path": str(path), "bytes": sum(f.stat().st_size for f in files), "sha256": digest.hexdigest(),
            "files": len(files)}


def inputs(binds: Iterable[str], output_target: str) -> list[dict]:
    """Fingerprints of the host folders and files mounted into the container, except the output."""
    found = []
    for bind in binds:
        source, target = bind.split(":")[:2]
        host = Path(source)
        if target != output_target and host.is_absolute() and host.exists():
            found.append({**fingerprint(host), "mounted_at": target})
    return found


def new_record(*, name: str, image: dict, reference: str, command: Sequence[str] | None, entrypoint: str | None,
               env_keys: Iterable[str], binds: Sequence[str], output_target: str, started: datetime,
               detached: bool, container_id: str | None = None) -> dict:
    image_labels = (image.get("Config") or {}).get("Labels") or {}
    return {
        "container": name,
        "container_id": container_id,
        "image": {
            "reference": reference,
            "id": image.get("Id"),
            "git_sha": image_labels.get(labels.GIT_SHA),
            "git_dirty": labels.built_dirty(image_labels),
        },
        "arguments": list(command or []),
        "entrypoint": entrypoint,
        "env_keys": sorted(env_keys),
        "inputs": inputs(binds, output_target),
        "started_at": started.isoformat(timespec="milliseconds"),
        "ended_at": None,
        "exit_code": None,
        "detached": detached,
        "host_architecture": platform.machine(),
    }


def finished(record: dict, ended: datetime, exit_code: int) -> dict:
    return {**record, "ended_at": ended.isoformat(timespec="milliseconds"), "exit_code": exit_code}


def awaits_end(record: dict) -> bool:
    """A record is written when its run starts; a detached run's end, or the end of a run whose
    engine went away, is not seen by the `inv run` that wrote it."""
    return record.get("exit_code") is None


def settle(record: dict, container: dict | None) -> dict | None:
    """Once the container (from `inspect`) of a run that awaits its end has exited, the run's record
    finished with the container's own end time and exit code; otherwise None."""
    if not awaits_end(record) or not container:
        return None
    if record.get("container_id") and record["container_id"] != container.get("Id"):
        return None  # the name now belongs to a later container
    state = container.get("State") or {}
    if state.get("Status") not in stores.ENDED:
        return None
    return finished(record, stores.engine_time(state["FinishedAt"]), state["ExitCode"])


def write(folder: Path, record: dict) -> Path:
    """Write (or rewrite) the record atomically; its name sorts by start time. Like the job's own
    outputs, it belongs to the folder's owner."""
    started = record["started_at"].replace(":", "").replace("-", "")[:15]
    path = folder / f"{PREFIX}{started}-{record['container']}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    owner = folder.stat()
    if hasattr(os, "getuid") and os.getuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
        os.chown(tmp, owner.st_uid, owner.st_gid)
    tmp.replace(path)
    return path


def read_all(folder: Path) -> list[dict]:
    """The records in `folder`, newest first; unreadable files are skipped."""
    records = []
    for path in folder.glob(f"{PREFIX}*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(records, key=lambda r: r.get("started_at", ""), reverse=True)


def read_list(path: Path) -> list[dict]:
    """A local record kept as a JSON list (pushes, Batch jobs); empty when missing or unreadable."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return found if isinstance(found, list) else []


def append_to_list(path: Path, entry: dict, keep: int | None = None) -> None:
    """Add `entry` to the JSON list at `path`, atomically, keeping its newest `keep` entries (all: None)."""
    path.parent.mkdir(exist_ok=True)
    entries = [*read_list(path), entry]
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(entries[-keep:] if keep else entries, indent=2) + "\n")
    partial.replace(path)

