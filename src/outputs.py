"""Atomic output files: each is written to a temporary file beside it, then renamed into place.

A reader, or a job stopped half-way by `docker stop`, therefore sees either the whole previous
file, the whole new one, or none: never a truncated one. On AWS Batch, where nothing is mounted,
`upload` sends them on to S3.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
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


def download(links: dict[str, str], folder: Path) -> list[str]:
    """Fetch the files sent along with the job (INPUT_DOWNLOAD: a presigned GET by file name, from
    `inv batch-submit --file`) into `folder`, each atomically; return their names."""
    import shutil
    import urllib.request

    for name, url in links.items():
        with urllib.request.urlopen(url, timeout=600) as response, atomic_path(folder / Path(name).name) as tmp, \
                open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    return sorted(links)


def upload(folder: Path, destination: dict[str, Any], skip: Collection[str] = ()) -> int:
    """Send every file in `folder` to S3 with a presigned POST (OUTPUT_UPLOAD, which
    `inv batch-submit` gives each shard: url, fields, and the prefix the keys must start
    with), one request a file, leaving out those in `skip` (what was sent along); return how many
    were sent. The standard library does it, so the image needs no AWS library (boto3 would add
    about 100 MB). Each file goes up a megabyte at a time: a model of several GB never has to fit
    in the container's memory."""
    import itertools
    import urllib.request
    import uuid

    sent = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and p.relative_to(folder).as_posix() not in skip):
        boundary = uuid.uuid4().hex
        fields = {**destination["fields"], "key": destination["prefix"] + path.relative_to(folder).as_posix()}
        head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                       for name, value in fields.items())
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n")
        opening, closing = head.encode(), f"\r\n--{boundary}--\r\n".encode()
        with open(path, "rb") as content:
            size = len(opening) + os.fstat(content.fileno()).st_size + len(closing)
            body = itertools.chain([opening], iter(lambda: content.read(UPLOAD_CHUNK), b""), [closing])
            request = urllib.request.Request(destination["url"], data=body, headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)})
            urllib.request.urlopen(request, timeout=600).close()
        sent += 1
    return sent


UPLOAD_CHUNK = 1 << 20
