"""The one seam to the Docker engine: the SDK client, and the `docker buildx` process.

Everything else receives the client as a parameter, so unit tests pass a fake and integration
tests the real engine. docker and its errors are imported here, lazily, and nowhere else. What
goes in and comes out is plain values: docker-py's own arguments (a container's are
run_options.create_kwargs of its plan) and the engine's answers, which stores.py and tables.py read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import NamedTuple

from docker_tasks.errors import TaskError, engine_lost, engine_unreachable, explain, shards_lost

# A container's State.Status once its process is gone; stores.ENDED is the same, for the pure modules
# (tests/unit/test_engine.py holds them together).
ENDED = frozenset({"exited", "dead"})
BUILDX_MISSING = (
    "the docker buildx plugin (BuildKit) is missing: install it with your package manager "
    "(docker-buildx-plugin, or docker-buildx on Debian and Ubuntu), or use Docker Desktop, which ships it"
)


def context_name(environ: Mapping[str, str]) -> str | None:
    """The Docker CLI context to use when DOCKER_HOST is unset, as the `docker` command chooses it."""
    if environ.get("DOCKER_HOST"):
        return None
    from docker.context.config import get_current_context_name

    return environ.get("DOCKER_CONTEXT") or get_current_context_name()


def connect(environ: Mapping[str, str] = os.environ):
    """A client for the engine that `docker` itself would talk to, checked to answer.

    docker-py's `from_env()` ignores the active context (docker/docker-py#3146), which breaks
    Docker Desktop, colima and rootless setups; so the context is resolved here.
    """
    import docker
    from docker.context import ContextAPI

    name = context_name(environ)
    where = environ.get("DOCKER_HOST") or "the default socket"
    try:
        if name in (None, "default"):
            client = docker.from_env(environment=dict(environ))
        else:
            context = ContextAPI.get_context(name)
            if context is None:
                raise TaskError(f"Docker context {name!r} does not exist; pick one from `docker context ls`")
            where = f"{context.Host} (Docker context {name})"
            client = docker.DockerClient(base_url=context.Host, tls=context.TLSConfig or False)
        client.ping()
    except TaskError:
        raise
    except Exception as exc:  # the SDK raises DockerException, requests' errors and OSError here
        raise TaskError(engine_unreachable(where, " ".join(str(exc).split()))) from None
    return client


@contextmanager
def docker_errors(lost: Callable[[], str] | None = None) -> Iterator[None]:
    """Turn any error from the SDK into a one-line TaskError. `lost` gives the message for an engine
    that goes away midway, where "cannot reach the engine" would not tell what became of the work."""
    import docker.errors
    import requests.exceptions

    midway = lost_engine_errors() if lost else ()
    try:
        yield
    except midway:
        raise TaskError(lost()) from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise TaskError(explain(exc)) from None


def info(client) -> dict:
    """`GET /info`: the image store (stores.image_store reads it), the storage driver, the swarm."""
    with docker_errors():
        return client.info()


def version(client) -> dict:
    """`GET /version`: the engine's version and API version (stores.engine_from reads them with info)."""
    with docker_errors():
        return client.version()


def _docker_cli(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise TaskError("the docker command is not installed; install Docker (docs.docker.com/get-docker)") from None


def require_buildx() -> None:
    if _docker_cli("buildx", "version").returncode != 0:
        raise TaskError(BUILDX_MISSING)


def builder_reports() -> tuple[str, str]:
    """What `docker buildx version` and `docker buildx inspect` print (stores.buildx_version and
    stores.buildkit_version read them)."""
    plugin = _docker_cli("buildx", "version")
    if plugin.returncode != 0:
        raise TaskError(BUILDX_MISSING)
    return plugin.stdout, _docker_cli("buildx", "inspect").stdout


def run_process(argv: list[str], keep: int = 30, show: bool = True, stdin: str | None = None,
                shown_as: Callable[[str], str | None] | None = None,
                env: Mapping[str, str] | None = None, log: Path | None = None) -> tuple[int, list[str]]:
    """Run a docker CLI command with its output streamed to the user, and return its exit status and
    last lines. In a terminal the output goes there untouched (BuildKit draws its progress, and
    its own summary of a failure), unless it is logged; elsewhere it is passed through line by
    line, or as `shown_as` rewrites each line (None: not shown), and kept. With `show` false, the
    output is only kept. `log` is a file that gets every line. `stdin` is the command's standard
    input; `env`, variables added to its environment (the values of build secrets, which must
    never be arguments)."""
    sys.stdout.flush()
    environment = {**os.environ, **env} if env else None
    tail: deque[str] = deque(maxlen=keep)
    try:
        if show and log is None and sys.stdout.isatty():
            return subprocess.run(argv, input=stdin, text=True, env=environment).returncode, []
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        with subprocess.Popen(argv, stdin=None if stdin is None else subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", env=environment) as process, \
                (log.open("w") if log is not None else nullcontext()) as logged:
            try:
                if stdin is not None:
                    process.stdin.write(stdin)
                    process.stdin.close()
                for line in process.stdout:
                    tail.append(line.rstrip("\n"))
                    if logged:
                        logged.write(line)
                    shown = (shown_as(tail[-1]) if shown_as else tail[-1]) if show else None
                    if shown is not None:
                        print(shown, flush=True)
            except KeyboardInterrupt:  # a SIGTERM reaches this task alone (Ctrl-C, the whole terminal's group)
                process.terminate()  # docker's command ends its build or push; leaving, Popen waits for it
                raise
        return process.returncode, list(tail)
    except FileNotFoundError:
        raise TaskError("the docker command is not installed; install Docker (docs.docker.com/get-docker)") from None


def run_attached(argv: list[str], environment: Mapping[str, str]) -> int:
    """Run a `docker run --interactive` line attached to this terminal; its exit status. The
    environment's values reach docker through its own environment, never as arguments."""
    try:
        return subprocess.run(argv, env={**os.environ, **environment}).returncode
    except FileNotFoundError:
        raise TaskError("the docker command is not installed; install Docker (docs.docker.com/get-docker)") from None


def run_container(client, create: dict):
    """Create and start a container from docker-py's `containers.create` arguments; it is never
    pulled, so a missing image is an error, not a download."""
    with docker_errors():
        container = client.containers.create(**create)
        try:
            container.start()
        except BaseException:  # a failed start, or a stop (Ctrl-C, SIGTERM) meanwhile
            remove_container(container)
            raise
    return container


@contextmanager
def stopped_if_interrupted(client, create: dict, remove: bool) -> Iterator[None]:
    """On Ctrl-C, SIGTERM or SIGHUP (errors.Stopped) within, stop the container that `create`
    makes, and remove it if asked, before the stop goes on. It is found by its name, known before
    it exists, so one whose creation or start the signal interrupted is stopped too; one already
    stopped (follow_to_exit does) or never created is no matter."""
    try:
        yield
    except KeyboardInterrupt:
        stop_planned(client, create, remove)
        raise


def stop_planned(client, create: dict, remove_it: bool) -> None:
    """Stop the container that `create` makes, found by its name and its labels, and remove it if
    asked; one that is already stopped, or gone, or was never created is no matter, and another
    of that name (`inv run --name` chose it) is not touched."""
    found = inspect(client, "container", create["name"])
    if found is None or not (found["Config"].get("Labels") or {}).items() >= create["labels"].items():
        return
    stop_container(client, create["name"], timeout=10)
    if remove_it:
        remove(client, "container", create["name"], force=True)


def copy_out(client, create: dict, folder: str, destination: Path) -> int:
    """Copy the files under `folder` of a container created (never started) from `create` into
    `destination`: how a named volume's contents reach this machine. Return how many were copied."""
    import tarfile
    import tempfile

    container = None
    with docker_errors():
        try:
            container = client.containers.create(**create)
            stream, _ = container.get_archive(folder.rstrip("/"))
            with tempfile.TemporaryFile() as buffer:
                for chunk in stream:
                    buffer.write(chunk)
                buffer.seek(0)
                with tarfile.open(fileobj=buffer) as archive:
                    return _extract_files(archive, destination)
        finally:
            if container is not None:
                remove_container(container)


def _extract_files(archive, destination: Path) -> int:
    """Write the archive's regular files under `destination`; any other entry, and any path that
    would leave it, is skipped."""
    copied = 0
    for member in archive:
        relative = Path(*Path(member.name).parts[1:])  # below the archived folder itself
        if not member.isfile() or relative.is_absolute() or ".." in relative.parts or not relative.parts:
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.extractfile(member) as source, open(target, "wb") as copy:
            copy.write(source.read())
        copied += 1
    return copied


def run_to_end(client, create: dict, timeout: int = 600) -> tuple[int, str]:
    """Run a short container to its end, quietly; return its exit code and what it printed."""
    container = run_container(client, create)
    try:
        with docker_errors():
            code = container.wait(timeout=timeout).get("StatusCode", 1)
            return code, container.logs().decode(errors="replace")
    finally:
        remove_container(container)


def lost_engine_errors() -> tuple[type[BaseException], ...]:
    """What the SDK raises when the engine goes away in the middle of a request or a stream."""
    import requests.exceptions
    import urllib3.exceptions

    return requests.exceptions.ConnectionError, urllib3.exceptions.ProtocolError, ConnectionError


class JobEnd(NamedTuple):
    """How a container ended: its exit code, whether the kernel killed it for memory, and the end
    of what it printed (for errors.job_hint)."""

    code: int
    out_of_memory: bool = False
    last_output: str = ""


def follow_to_exit(container, remove: bool) -> JobEnd:
    """Stream a container's output until it exits, and say how it ended.

    Ctrl-C, SIGTERM or SIGHUP stops the container (SIGTERM, then SIGKILL after 10 s), rather than
    leaving it running, and goes on to end the task.
    If the engine goes away meanwhile, the container is left for `inv ps` and `inv logs` to explain.
    """
    last = deque(maxlen=64)
    with docker_errors(lost=lambda: engine_lost(container.name)):
        try:
            for chunk in container.logs(stream=True, follow=True):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                last.append(chunk)
            code = container.wait().get("StatusCode", 1)
            container.reload()
            printed = b"".join(last)[-4096:].decode(errors="replace")
            ended = JobEnd(code, bool(container.attrs["State"].get("OOMKilled")), printed)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM or SIGHUP (errors.Stopped): stop it, remove it, go on
            print(f"\nstopping {container.name} ...", file=sys.stderr)
            container.stop(timeout=10)
            raise
        except lost_engine_errors():
            remove = False  # kept, for `inv ps` and `inv logs` once the engine is back
            raise
        finally:
            if remove:
                remove_container(container)
    return ended


def run_and_follow(client, create: dict, remove: bool) -> JobEnd:
    """Run a container in the foreground to its end (follow_to_exit); a stop at any point, from
    the moment its creation is asked for, stops it."""
    with stopped_if_interrupted(client, create, remove):
        return follow_to_exit(run_container(client, create), remove=remove)


def remove_container(container) -> None:
    """Remove a container; one that is already gone is not an error."""
    import docker.errors

    with suppress(docker.errors.NotFound):
        container.remove(force=True)


def remove(client, kind: str, reference: str, force: bool = False) -> str:
    """Remove a container, an image or one of its tags, or a volume; return 'removed', 'gone'
    (already) or 'in use' (by a container)."""
    import docker.errors

    remover = {"container": client.api.remove_container, "image": client.api.remove_image,
               "volume": client.api.remove_volume}[kind]
    with docker_errors():
        try:
            remover(reference, force=force)
        except docker.errors.NotFound:
            return "gone"
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return "in use"
            raise
    return "removed"


def images_inspected(client, filters: dict) -> list[tuple[dict, dict]]:
    """Each `GET /images/json` summary with the image's `docker image inspect` details, which
    stores.image_summary merges into it; an image removed in between is left out."""
    from concurrent.futures import ThreadPoolExecutor

    summaries = images(client, filters)
    with ThreadPoolExecutor(max_workers=8) as pool:  # one request each: side by side, 14 took 50 ms, not 110
        inspected = list(pool.map(lambda summary: inspect(client, "image", summary["Id"]), summaries))
    return [(summary, details) for summary, details in zip(summaries, inspected, strict=True) if details]


def inspect(client, kind: str, reference: str) -> dict | None:
    """An image's or a container's details, or None when there is no such thing."""
    import docker.errors

    inspector = client.api.inspect_container if kind == "container" else client.api.inspect_image
    with docker_errors():
        try:
            return inspector(reference)
        except docker.errors.NotFound:
            return None


def containers(client, filters: dict | None = None) -> list[dict]:
    """`GET /containers/json` summaries, stopped containers included."""
    with docker_errors():
        return client.api.containers(all=True, filters=filters)


def images(client, filters: dict) -> list[dict]:
    """`GET /images/json` summaries, as the engine sends them (image_summaries refines them)."""
    with docker_errors():
        return client.api.images(filters=filters)


def tag_image(client, image_id: str, repository: str, tag: str) -> None:
    with docker_errors():
        client.api.tag(image_id, repository, tag, force=True)


def kill(client, container_id: str, signal: str) -> None:
    with docker_errors():
        client.api.kill(container_id, signal=signal)


def stream_logs(client, container_id: str, *, follow: bool, tail: str) -> Iterator[bytes]:
    """A container's output as it comes; errors arrive as TaskError."""
    with docker_errors():
        yield from client.api.logs(container_id, stream=True, follow=follow, tail=tail if tail == "all" else int(tail))


def registry_digest(client, reference: str) -> tuple[str, list[str]]:
    """What `reference` names in its registry now, asked through the engine (its credentials and
    mirrors): the digest, and the platforms it holds, as `os/arch`."""
    with docker_errors():
        data = client.images.get_registry_data(reference)
    return data.id, sorted({f"{p.get('os')}/{p.get('architecture')}" for p in data.attrs.get("Platforms") or []})


MANIFEST_TIMEOUT = 30  # seconds: the push is done; its tally is not worth a hang


def registry_manifests(reference: str) -> dict | list | None:
    """What the registry serves for `reference` (`name@sha256:...`), with every layer's compressed
    size, as `docker manifest inspect --verbose` prints it (the docker CLI's credentials and token
    handshake); None when it cannot say. A registry on loopback speaks plain HTTP, as the engine
    lets it; any other must speak TLS."""
    import ipaddress
    import json
    from urllib.parse import urlsplit

    host = urlsplit("//" + reference.split("/", 1)[0]).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    try:
        answer = _docker_cli("manifest", "inspect", "--verbose", *(["--insecure"] if loopback else []), reference,
                             timeout=MANIFEST_TIMEOUT)
        return json.loads(answer.stdout) if answer.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError):
        return None


def untag(client, reference: str) -> None:
    """Remove one tag; the image goes with it only if nothing else names it. A missing tag is fine."""
    import docker.errors

    with docker_errors(), suppress(docker.errors.NotFound):
        client.api.remove_image(reference)


def save_image(client, reference: str, destination: Path) -> None:
    """Write `docker save` of an image to a file."""
    with docker_errors(), open(destination, "wb") as archive:
        for chunk in client.api.get_image(reference):
            archive.write(chunk)


def pull(client, name: str, tag: str) -> Iterator[dict]:
    """The engine's progress events of a pull; errors arrive as TaskError."""
    with docker_errors():
        yield from client.api.pull(name, tag=tag, stream=True, decode=True)


def push(client, repository: str, tag: str) -> Iterator[dict]:
    """The engine's progress events of a push, with the credentials `docker login` stored; errors
    arrive as TaskError. No read timeout: a registry may take minutes to commit a big layer."""
    with docker_errors():
        timeout, client.api.timeout = client.api.timeout, None
        try:
            yield from client.api.push(repository, tag=tag, stream=True, decode=True)
        finally:
            client.api.timeout = timeout


def swarm_state(client) -> str:
    """This engine's part in a swarm: `active`, `inactive`, `pending`, ..."""
    with docker_errors():
        return client.info().get("Swarm", {}).get("LocalNodeState", "inactive")


def create_service(client, kwargs: dict):
    with docker_errors():
        return client.services.create(**kwargs)


def services(client, filters: dict) -> list:
    with docker_errors():
        return client.services.list(filters=filters)


def service_tasks(service) -> list[dict]:
    with docker_errors():
        return service.tasks()


def remove_service(service) -> None:
    """Remove a Swarm service; one that is already gone is not an error."""
    import docker.errors

    with docker_errors(), suppress(docker.errors.NotFound):
        service.remove()


def ensure_volume(client, name: str, volume_labels: dict[str, str]) -> None:
    """Create the named volume with these labels, unless it exists (then it is left as it is)."""
    import docker.errors

    with docker_errors():
        try:
            client.api.inspect_volume(name)
        except docker.errors.NotFound:
            client.api.create_volume(name, labels=volume_labels)


def volumes(client, filters: dict) -> list[dict]:
    """Volumes matching `filters`, each with `Size`: the bytes it holds (the engine counts them)."""
    with docker_errors():
        found = client.api.volumes(filters=filters).get("Volumes") or []
        if not found:
            return []
        sizes = {v["Name"]: (v.get("UsageData") or {}).get("Size", -1) for v in client.api.df().get("Volumes") or []}
    return [{**volume, "Size": sizes.get(volume["Name"], -1)} for volume in found]


def layers_size(client) -> int:
    """Bytes the engine's image layers take on disk, to measure what a clean-up reclaimed."""
    with docker_errors():
        return client.api.df().get("LayersSize", 0)


def stop_container(client, container_id: str, timeout: int) -> int | None:
    """Stop gracefully (SIGTERM, then SIGKILL after `timeout` s); return the exit code, None if gone."""
    import docker.errors

    with docker_errors():
        try:
            client.api.stop(container_id, timeout=timeout)
            return client.api.inspect_container(container_id)["State"]["ExitCode"]
        except docker.errors.NotFound:
            return None


def docker_login(argv: list[str], secret: str) -> tuple[int, str]:
    """Run `docker login --password-stdin`, handing it the secret on standard input only."""
    try:
        done = subprocess.run(argv, input=secret + "\n", capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise TaskError("the docker command is not installed; install Docker (docs.docker.com/get-docker)") from None
    except subprocess.TimeoutExpired:
        return 1, "the login timed out: i/o timeout"
    return done.returncode, (done.stdout + done.stderr).strip()


def run_many(client, creates: list[dict], at_once: int, report, remove: bool) -> list[int]:
    """Run containers (docker-py's `containers.create` arguments each) with at most `at_once` alive,
    reporting each start and end, and remove each as it ends if asked; return their exit codes.

    A failed container's last lines are shown. Ctrl-C stops every running one. If the engine goes
    away meanwhile, the containers are left for `inv ps` and `inv logs` to explain.
    """
    import time

    codes: dict[int, int] = {}
    waiting = list(enumerate(creates))
    running: dict[int, tuple[object, float]] = {}
    try:
        with docker_errors(lost=lambda: shards_lost([container.name for container, _ in running.values()])):
            while waiting or running:
                while waiting and len(running) < at_once:
                    index, create = waiting[0]
                    with stopped_if_interrupted(client, create, remove):  # until it is one of `running`
                        running[index] = (run_container(client, create), time.monotonic())
                    waiting.pop(0)
                    report(index, f"started {create['name']}")
                for index, (container, started) in list(running.items()):
                    state = client.api.inspect_container(container.id)["State"]
                    if state["Status"] in ENDED:
                        codes[index] = state["ExitCode"]
                        del running[index]
                        memory = ", out of memory" if state.get("OOMKilled") else ""
                        report(index, f"exit code {codes[index]}{memory} after {time.monotonic() - started:.1f}s")
                        if codes[index] != 0:
                            sys.stdout.buffer.write(container.logs(tail=10))
                        if remove:
                            remove_container(container)
                time.sleep(0.2)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM or SIGHUP (errors.Stopped)
        print(f"\nstopping {len(running)} running shard(s) ...", file=sys.stderr)
        for index in running:
            stop_planned(client, creates[index], remove)
        raise
    return [codes[index] for index in range(len(creates))]
