"""Atomic output files: each is written to a temporary file beside it, then renamed into place.

A reader, or a job stopped half-way by `docker stop`, therefore sees either the whole previous
file, the whole new one, or none: never a truncated one. On AWS Batch the image's launcher, not the job, sends them on to S3.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

# mkstemp creates files readable by their owner only; outputs get the usual umask-based mode.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to `target` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(_FILE_MODE)
    try:
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
    finally:
        # BaseException too: SIGTERM arrives as an exception and must not leave the temp file.
        tmp.unlink(missing_ok=True)


def _write(target: Path, write: Callable[[Path], Any]) -> Path:
    with atomic_path(target) as tmp:
        write(tmp)
    return target


def write_json(data: dict[str, Any], target: Path) -> Path:
    return _write(target, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def write_csv(frame: pd.DataFrame, target: Path) -> Path:
    return _write(target, lambda tmp: frame.to_csv(tmp, index=False))


def write_model(model: Any, target: Path) -> Path:
    return _write(target, lambda tmp: joblib.dump(model, tmp))

