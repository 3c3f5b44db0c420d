"""The `docker` command lines that do what a task does: run for builds, printed for `--dry-run`.

People learning Docker learn from seeing the commands, so the printed line is one they could
paste. Environment values are masked, because they are often secrets.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docker_tasks.run_options import RunPlan


MASK = "***"

# Where a build goes: into the engine, with its layers uncompressed. The containerd image store
# keeps the layers a build hands it as they come, and gzipping the virtualenv's few hundred MB
# took more than half of a cold build; the classic store unpacks them anyway. A push compresses
# them (compress_command), for registries and the clients that pull from them.
LOAD = "type=docker,compression=uncompressed"
PUSH_COMPRESSIONS = ("gzip", "zstd")
# SLSA provenance with everything BuildKit knows: the Dockerfile, build arguments, base images by
# digest, the source (GIT_SHA and SOURCE_URL are build arguments); secrets by their id only.
PROVENANCE = "mode=max"


def buildx_build(
    context: Path,
    tags: list[str],
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    *,
    platform: str | None = None,
    no_cache: bool = False,
    progress: str = "auto",
    output: str | None = None,
    target: str | None = None,
    no_cache_filter: str | None = None,
    secrets: Sequence[str] = (),
    cache_from: str | None = None,
    cache_to: str | None = None,
    provenance: bool = False,
    build_contexts: Mapping[str, Path] | None = None,
) -> list[str]:
    """The build: loaded into the engine (LOAD), unless `output` names another exporter (BuildKit's
    --output syntax). A provenance attestation records the time of the build, so an image that
    carried one would never be built twice the same: only a push attaches one (`provenance`),
    beside the image in the registry's index (PROVENANCE)."""
    argv = ["docker", "buildx", "build", "--output", output or LOAD,
            "--provenance", PROVENANCE if provenance else "false", "--progress", progress]
    for tag in tags:
        argv += ["--tag", tag]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if platform:
        argv += ["--platform", platform]
    if target:
        argv += ["--target", target]
    if no_cache:
        argv.append("--no-cache")
    if no_cache_filter:
        argv += ["--no-cache-filter", no_cache_filter]
    for secret in secrets:  # where each value is (build_secrets.py), never the value
        argv += ["--secret", secret]
    argv += ["--cache-from", cache_from] if cache_from else []
    argv += ["--cache-to", cache_to] if cache_to else []
    for name, folder in (build_contexts or {}).items():  # each replaces the Dockerfile's stage of that name
        argv += ["--build-context", f"{name}={folder}"]
    return [*argv, str(context)]


def image_output(targets: Sequence[str], compression: str, *, push: bool = False) -> str:
    """BuildKit's --output for an image named `targets` (registry/name:tag), its layers compressed:
    kept in the engine for `docker push` to send as it is, or with `push`, sent by BuildKit itself.
    The option is CSV, so several names are quoted as one field."""
    names = f'"name={",".join(targets)}"' if len(targets) > 1 else f"name={targets[0]}"
    output = f"type=image,{names}{',push=true' if push else ''},compression={compression},force-compression=true"
    if compression == "zstd":  # the standard's media type for it; Docker's own types have no zstd
        output += ",oci-mediatypes=true"
    return output


def compress_command(target: str, compression: str, metadata_file: Path | None, progress: str = "auto",
                     platforms: Sequence[str] = ()) -> list[str]:
    """A compressed copy of a local image, named `target`, for `docker push`: BuildKit builds a
    Dockerfile of one line, `FROM image` (compress_dockerfile, on standard input), which gives the
    very image, for each of its `platforms`: the same configs and layers, in one index when there
    are several. Pushed as it is, the containerd store's copy would go uncompressed, which some
    pullers cannot read; BuildKit's own push reports no bytes on the way."""
    argv = buildx_build(Path("-"), [], {}, {}, platform=",".join(platforms) or None, progress=progress,
                        output=image_output([target], compression))
    return with_metadata_file(argv, metadata_file)


def with_metadata_file(argv: list[str], metadata_file: Path | None) -> list[str]:
    """The build, writing what it made (digests of the image and its config) into `metadata_file`."""
    return [*argv[:-1], "--metadata-file", str(metadata_file), argv[-1]] if metadata_file else argv


def compress_dockerfile(image: str) -> str:
    return f"FROM {image}\n"


def docker_run(plan: RunPlan, *, terminal: bool | None = None, values_from_environment: bool = False) -> list[str]:
    """`docker run` of the plan. `terminal`: attached to this one, with a TTY when True (`inv
    shell`). The environment's values show as MASK, or, `values_from_environment`, are left for
    docker to take from its own environment (`--env KEY`), so that no value is an argument."""
    from docker_tasks.run_options import TMPFS, gpus_flag, memory_flag  # here: a build never needs them

    argv = ["docker", "run"]
    if terminal is not None:
        argv += ["--interactive", *(["--tty"] if terminal else [])]
    argv += ["--detach"] if plan.detach else []
    argv += ["--rm"] if plan.remove and not plan.detach else []
    argv += ["--init", "--name", plan.name]
    if plan.hardening.read_only:
        argv += ["--read-only", *(f"--tmpfs={path}:{options}" for path, options in TMPFS.items())]
    if plan.hardening.drop_capabilities:
        argv += ["--cap-drop", "ALL"]
    if plan.hardening.no_new_privileges:
        argv += ["--security-opt", "no-new-privileges"]
    for key, value in plan.labels.items():
        argv += ["--label", f"{key}={value}"]
    for key in plan.environment:
        argv += ["--env", key if values_from_environment else f"{key}={MASK}"]
    for container_port, hosts in plan.ports.items():
        for ip, host in hosts:
            argv += ["--publish", _publish(ip, host, container_port)]
    for bind in plan.volumes:
        argv += ["--volume", bind]
    if plan.user:
        argv += ["--user", plan.user]
    if plan.entrypoint:
        argv += ["--entrypoint", plan.entrypoint]
    if plan.gpus:
        argv += ["--gpus", gpus_flag(plan.gpus)]
    if plan.memory:
        argv += ["--memory", memory_flag(plan.memory), "--memory-swap", memory_flag(plan.memory)]
    if plan.shm_size:
        argv += ["--shm-size", memory_flag(plan.shm_size)]
    if plan.ipc:
        argv += ["--ipc", plan.ipc]
    if plan.platform:
        argv += ["--platform", plan.platform]
    return [*argv, plan.image, *(plan.command or [])]


def _publish(ip: str, host: int | None, container_port: str) -> str:
    if ip:
        return f"{ip}:{host or ''}:{container_port}"
    return f"{host}:{container_port}" if host else container_port


def docker_images(project_filter: Mapping[str, list[str]]) -> list[str]:
    argv = ["docker", "images"]
    for key, values in project_filter.items():
        for value in values:
            argv += ["--filter", f"{key}={value}"]
    return argv


def show(argv: list[str]) -> str:
    return shlex.join(argv)


def export_commit(sha: str, folder: Path, file_time: int) -> str:
    """The shell line that does what git_state.export_commit does: the commit's files in `folder`,
    writable by their owner only (as Python's tar filter leaves them; tar run as root would keep
    git's group write), each dated `file_time` (touch -t reads local time, so TZ=UTC)."""
    stamp = datetime.fromtimestamp(file_time, UTC).strftime("%Y%m%d%H%M.%S")
    where = shlex.quote(str(folder))
    return (f"mkdir -p {where} && git archive {sha} | tar -x -C {where} && chmod -R go-w {where} && "
            f"TZ=UTC find {where} -exec touch -h -t {stamp} {{}} +   # the commit's files, dated {stamp[:4]}")


@dataclass(frozen=True)
class Step:
    """One change a task makes: the command a person would type, and the action that does the same
    and returns the line that reports it. A dry run prints the commands; a run carries out the
    actions. Both come from the same steps, so what is shown is what runs."""

    argv: list[str]
    act: Callable[[], str]
    note: str = ""  # what the command is about, shown beside it in a dry run


def carry_out(steps: Iterable[Step], *, dry_run: bool) -> None:
    for step in steps:
        if dry_run:
            print(show(step.argv) + (f"   # {step.note}" if step.note else ""))
        else:
            print(step.act())


def remark(line: str, *, dry_run: bool) -> str:
    """A line that is not a step: a comment in a dry run, so that its output stays a script."""
    return f"# {line}" if dry_run else line
