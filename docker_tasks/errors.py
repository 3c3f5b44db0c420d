"""Turning failures into one line that says what happened and what to do next."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

NO_AWS_CREDENTIALS = ("no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                      "or run `aws configure`")


class TaskError(Exception):
    """A failure the user can act on; the tasks print its message alone and exit non-zero."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _api_explanation(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None) or str(exc)
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return " ".join(str(explanation).split())


def engine_unreachable(where: str, detail: str) -> str:
    place = f" at {where}" if where else ""
    if "permission denied" in detail.lower():  # the engine runs, but its socket is not yours to use
        return (f"you may not use the Docker engine{place} (permission denied): add yourself to the docker group "
                "with `sudo usermod -aG docker $USER`, then log out and back in; or use Docker Desktop or rootless "
                "Docker")
    return (f"cannot reach the Docker engine{place} ({detail}). Start Docker, or point DOCKER_HOST "
            "or `docker context use` at a running engine")


def engine_lost(container: str) -> str:
    return (f"lost the Docker engine while {container} ran: it stopped or restarted, so how the job ended is not "
            f"known here. Once the engine is back, `inv ps` shows how it ended and `inv logs --name {container}` "
            "what it printed")


def shards_lost(containers: list[str]) -> str:
    return (f"lost the Docker engine while {len(containers)} shard(s) ran ({', '.join(containers)}): it stopped or "
            "restarted. Once the engine is back, `inv ps` shows how they ended and `inv logs --name NAME` what each "
            "printed; then run the shards again")


class Stopped(KeyboardInterrupt):
    """A SIGTERM or SIGHUP to the task (a cancelled CI job, `kill`, a closed terminal), raised where
    the task is so that it stops what it started, as it does for Ctrl-C (tasking.stops_on_signals)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def interruption(stop: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the task, and its exit code: 130 for Ctrl-C, and 143, a process ended by
    SIGTERM, for SIGTERM and SIGHUP alike, which the task handles the same way."""
    import signal

    signum = getattr(stop, "signum", signal.SIGINT)
    if signum == signal.SIGINT:
        return "Ctrl-C", 130
    return signal.Signals(signum).name, 128 + signal.SIGTERM


def job_ending(code: int, out_of_memory: bool = False) -> str:
    """How a job ended and what to do about it, from its exit code, to follow "the job in IMAGE"."""
    if out_of_memory:
        return (f"ran out of memory and was killed (exit code {code}); its output is above. Give Docker more memory "
                "(Docker Desktop: Settings > Resources), or make the job use less, e.g. by reading its data in chunks")
    if code == 137:
        return ("was killed (exit code 137); its output is above. `inv kill`, a stop that outlasted its grace period "
                "and a machine out of memory all end a job this way")
    if code == 143:
        return ("was stopped (exit code 143); its output is above. `inv stop`, `docker stop` and an engine shutting "
                "down all end a job this way; run it again to finish it")
    return f"exited with code {code}; its output is above"


def job_hint(last_output: str, output_dir: str, in_checkout: Callable[[str], bool] = lambda path: False) -> str:
    """What the end of a failed job's output says the user can do, beyond its exit code; or ''.
    `in_checkout` tells whether a relative path names a file of the project on this machine."""
    found = re.search(r"Read-only file system: '([^']*)'", last_output)
    if found:
        return (f"It wrote {found[1]!r} outside its output folder, and the container's root is read-only: write "
                f"under {output_dir} (output/ on this machine), or /tmp for scratch files")
    found = re.search(r"No such file or directory: '([^'/][^']*)'", last_output)
    if found and in_checkout(found[1]):
        folder = found[1].split("/")[0]
        return (f"It read {found[1]!r}, which is in your checkout but not in the image: let it in with a line "
                f"`!{folder}{'/' if '/' in found[1] else ''}` in .dockerignore, and build again")
    return ""


def merge_failure(code: int, out_of_memory: bool = False) -> TaskError:
    return TaskError(f"merging the parts failed: the merge {job_ending(code, out_of_memory)}", exit_code=code)


def explain(exc: BaseException) -> str:
    """Map an exception from docker-py, requests or GitPython to a one-line message."""
    name = type(exc).__name__
    detail = _api_explanation(exc)
    lowered = detail.lower()
    if name == "ImageNotFound":
        return f"image not found: {detail}. Build it with `inv build`, or see what exists with `inv images`"
    if name == "NotFound":
        return f"not found: {detail}"
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return (f"a published port is already in use on this machine ({detail}); "
                "choose another host port with --port HOST:CONTAINER")
    if "is already in use by container" in lowered or ("conflict" in lowered and "name" in lowered):
        return f"that container name is taken ({detail}); choose another --name, or remove the old container"
    if "could not select device driver" in lowered:
        return ("the Docker engine has no GPU runtime: install the NVIDIA Container Toolkit and restart Docker, "
                "or run without --gpus")
    if "invalid reference format" in lowered:
        return f"invalid image name or tag ({detail}); names are lowercase, e.g. registry.example.com/team/app-name:1.0"
    if name in {"ConnectionError", "DockerException"} or "connection" in lowered:
        return engine_unreachable("", detail)
    if name == "APIError":
        return f"the Docker engine refused: {detail}"
    return f"{name}: {detail}"



STEP_PREFIX = r"^(?:#\d+ )?[\d.]+ "  # what BuildKit writes before a line of a step's output: `#9 0.210 `
STEP_ERROR = re.compile(STEP_PREFIX + r"(?:error|ERROR): (?P<reason>.+)$")
STEP_CAUSE = re.compile(STEP_PREFIX + r" *cause: (?P<cause>.+)$")
STEP_EXIT = re.compile(r'process ".*" did not complete successfully: (exit code: \d+)')


def failing_step(tail: Sequence[str]) -> str | None:
    """Why a build failed, from the end of its output: the failing step's own last error line (with
    the cause uv gives on the next line), else BuildKit's, without the step's whole command line."""
    lines = [line.strip() for line in tail]
    for index in range(len(lines) - 1, -1, -1):
        if match := STEP_ERROR.match(lines[index]):
            cause = STEP_CAUSE.match(lines[index + 1]) if index + 1 < len(lines) else None
            return match["reason"] + (f": {cause['cause']}" if cause else "")
    buildkit = [line.split("ERROR:", 1)[1].strip() for line in lines if "ERROR:" in line]
    return STEP_EXIT.sub(r"a RUN step failed (\1)", buildkit[-1]) if buildkit else None
