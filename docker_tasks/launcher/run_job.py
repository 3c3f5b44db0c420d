#!/usr/bin/env -S python3 -I
"""run-job, the image's entrypoint: starts the job's command, and on AWS Batch moves its files.

The Dockerfile installs this file as /usr/local/bin/run-job and writes what it runs beside it
(/usr/local/etc/run-job: the job contract's command, default arguments and output folder). With
no arguments the job gets its default ones. Anywhere but Batch, run-job simply becomes the job
(exec), so the job is the process `docker stop` signals.

On Batch nothing is mounted, so `inv batch-submit` hands each shard two variables, and run-job
does the transport the job would otherwise have to carry:
- INPUT_DOWNLOAD (JSON: a presigned GET by file name, from `--file`): each file is fetched into
  the output folder, atomically, before the job starts;
- OUTPUT_UPLOAD (JSON: url, fields and key prefix of a presigned S3 POST): once the job has
  succeeded, every file it left in the output folder goes up, but those it was sent.
The job itself only reads and writes its folders. Standard library only, streamed a megabyte at
a time: the image needs no AWS library (boto3 is about 100 MB) and a model of several GB never
has to fit in memory.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

SETTINGS = Path("/usr/local/etc/run-job")
DOWNLOAD_VARIABLE = "INPUT_DOWNLOAD"
UPLOAD_VARIABLE = "OUTPUT_UPLOAD"
CHUNK = 1 << 20
TIMEOUT = 600  # seconds a silent connection may last
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
EXIT_TRANSPORT = 75  # EX_TEMPFAIL: the job may have been fine; moving its files was not


class TransportError(Exception):
    """A file could not be fetched or sent; the message says which and why, in one line."""


def read_settings(text: str) -> dict[str, list[str] | str]:
    """`command=python -m job`, `default_args=train --fast`, `output_dir=/app/output`: one a line,
    the first two shell-quoted, as `inv build` passes them."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {"command": shlex.split(values.get("command", "")),
            "default_args": shlex.split(values.get("default_args", "")),
            "output_dir": values.get("output_dir", "").strip() or "/app/output"}


def job_argv(command: list[str], default_args: list[str], given: list[str]) -> list[str]:
    """The container's arguments follow the command; with none, the default ones do."""
    return [*command, *(given or default_args)]


def transport(environ: Mapping[str, str]) -> tuple[dict[str, str], dict | None]:
    """The files to fetch (name to URL) and where outputs go, from the two variables; an empty or
    missing variable means none."""
    def parsed(name: str):
        raw = environ.get(name, "").strip()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TransportError(f"{name} is not JSON ({exc.msg}); leave it to `inv batch-submit`") from None
    downloads, upload = parsed(DOWNLOAD_VARIABLE) or {}, parsed(UPLOAD_VARIABLE)
    if upload is not None and not {"url", "fields", "prefix"} <= set(upload):
        raise TransportError(f"{UPLOAD_VARIABLE} needs url, fields and prefix; `inv batch-submit` sets it")
    return downloads, upload


def _atomic_copy(source, target: Path) -> None:
    """Write a stream to target through a hidden temporary file beside it, so that a reader never
    sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def download(links: Mapping[str, str], folder: Path) -> list[str]:
    """Fetch each file into `folder` under its own name (never a path: a name cannot climb out of
    the folder); return the names."""
    names = []
    for name, url in sorted(links.items()):
        local = Path(name).name
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                _atomic_copy(response, folder / local)
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"could not fetch {name}, sent along with --file: {_reason(exc)}") from None
        names.append(local)
    return names


def outputs(folder: Path, skip: Collection[str] = ()) -> list[Path]:
    """The files to send: all below `folder` but hidden ones (temporary files) and those in skip."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts)
                  and path.relative_to(folder).as_posix() not in skip)


def multipart(fields: Mapping[str, str], filename: str, boundary: str) -> tuple[bytes, bytes]:
    """What comes before and after a file's bytes in a presigned POST's form."""
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                   for name, value in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n")
    return head.encode(), f"\r\n--{boundary}--\r\n".encode()


def upload(folder: Path, destination: Mapping, skip: Collection[str] = ()) -> list[str]:
    """Send each output file with the presigned POST, one request a file, keyed below its prefix;
    return the keys' relative names."""
    sent = []
    for path in outputs(folder, skip):
        relative = path.relative_to(folder).as_posix()
        boundary = uuid.uuid4().hex
        opening, closing = multipart({**destination["fields"], "key": destination["prefix"] + relative},
                                     path.name, boundary)
        try:
            with open(path, "rb") as content:
                size = len(opening) + os.fstat(content.fileno()).st_size + len(closing)
                body: Iterator[bytes] = itertools.chain([opening], iter(lambda: content.read(CHUNK), b""), [closing])
                request = urllib.request.Request(destination["url"], data=body, method="POST", headers={
                    "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)})
                urllib.request.urlopen(request, timeout=TIMEOUT).close()
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"could not send {relative} to S3: {_reason(exc)}") from None
        sent.append(relative)
    return sent


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc)


def run_forwarding_signals(argv: list[str]) -> int:
    """Run the job as a child, passing on the signals the container gets (docker stop, Batch's
    termination); return its exit status as a shell gives it (128 + signal when one killed it)."""
    child: subprocess.Popen | None = None
    early: list[int] = []  # a signal that came before the child existed, passed on once it does

    def forward(signum, frame):
        if child is None:
            early.append(signum)
        else:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        child = subprocess.Popen(argv)
        for signum in early:
            child.send_signal(signum)
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - status if status < 0 else status


def say(message: str) -> None:
    print(f"run-job: {message}", file=sys.stderr, flush=True)


def cannot_start(argv: list[str], exc: OSError) -> int:
    say(f"cannot start {argv[0]}: {exc.strerror}; check `command` in the job contract (pyproject.toml)")
    return 127


def main(given: list[str], environ: Mapping[str, str] = os.environ, settings_file: Path = SETTINGS) -> int:
    try:
        settings = read_settings(settings_file.read_text())
    except OSError as exc:
        say(f"cannot read {settings_file} ({exc.strerror}); the image was not built by `inv build`, build it again")
        return 2
    argv = job_argv(settings["command"], settings["default_args"], given)
    if not argv:
        say("no command to run: set `command` in pyproject.toml's [tool.dockertasks.job], then `inv build`")
        return 2
    try:
        downloads, destination = transport(environ)
    except TransportError as exc:
        say(str(exc))
        return 2
    if not downloads and destination is None:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            return cannot_start(argv, exc)
    folder = Path(settings["output_dir"])
    try:
        received = download(downloads, folder)
    except TransportError as exc:
        say(f"{exc}; the job did not run")
        return EXIT_TRANSPORT
    if received:
        say(f"received {', '.join(received)} into {folder}")
    try:
        status = run_forwarding_signals(argv)
    except OSError as exc:
        return cannot_start(argv, exc)
    if status != 0 or destination is None:
        return status
    try:
        sent = upload(folder, destination, skip=received)
    except TransportError as exc:
        say(f"{exc}; the job succeeded but its outputs did not all reach S3: submit it again")
        return EXIT_TRANSPORT
    say(f"uploaded {len(sent)} file(s) from {folder}" if sent else f"the job left nothing to upload in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
