"""Docker Swarm: `inv swarm-run` runs the image as N shards of a replicated job over the swarm's
nodes, waits, merges and removes the service; `inv swarm-status` shows how they go.

`inv run --shards N` covers one machine (workflow.run_shards); a swarm spreads the shards over
many. They start from the image in the registry, so push it first.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence

from docker_tasks import job as job_contract
from docker_tasks import labels, shards, stores, tables
from docker_tasks.commands import MASK, show
from docker_tasks.errors import TaskError, merge_failure
from docker_tasks.run_options import (
    CACHE_ENVIRONMENT,
    CACHE_TARGET,
    TMPFS,
    TMPFS_SIZE,
    RunPlan,
    cache_volume,
    create_kwargs,
    gpu_count,
    parse_memory,
)
from docker_tasks.seams import engine
from docker_tasks.settings import Settings
from docker_tasks.tasks import workflow

SERVICE = f"{labels.NAMESPACE}.swarm-job"
FINISHED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
SWARM_GPU = "NVIDIA-GPU"  # the kind NVIDIA's documentation has nodes advertise


def service_kwargs(spec: RunPlan, *, name: str, shards_count: int, at_once: int, volume: str,
                   model_cache: bool = True) -> dict:
    """docker-py `services.create` arguments for the job as a replicated job of `shards_count`
    tasks, with the defences of a local run that Swarm offers: a read-only root with a tmpfs /tmp,
    and no capabilities. Swarm services have no no-new-privileges setting (docs/tasks.md, "Secrets
    and the container's defences").
    The mode, mounts, restart policy and resources are the API's own objects, as docker.types
    would make them, so that only the engine seam imports docker."""
    hardening = spec.hardening
    env = {**spec.environment, "SHARD_COUNT": str(shards_count), "SWARM_TASK_SLOT": "{{.Task.Slot}}"}
    ownership = {**spec.labels, SERVICE: name}
    mounts = [_volume_mount(spec.output_dir, volume)]
    if model_cache:
        mounts.append(_volume_mount(CACHE_TARGET, cache_volume(spec.labels.get(labels.PROJECT, spec.name))))
        env = {**CACHE_ENVIRONMENT, **env}
    if hardening.read_only:
        mounts += [_tmpfs_mount(path, TMPFS_SIZE) for path in TMPFS]
    if spec.shm_size:  # a service has no --shm-size; a tmpfs there is what it sets
        mounts.append(_tmpfs_mount("/dev/shm", parse_memory(spec.shm_size)))
    # Swarm places a task on a node that advertises that many (its daemon.json node-generic-resources).
    gpus = [{"DiscreteResourceSpec": {"Kind": SWARM_GPU, "Value": gpu_count(spec.gpus)}}] if spec.gpus else None
    return {
        "image": spec.image, "args": spec.command, "name": name,  # args: the entrypoint stays the image's
        "mode": {"ReplicatedJob": {"MaxConcurrent": at_once, "TotalCompletions": shards_count}},
        "env": [f"{key}={value}" for key, value in env.items()],
        "labels": ownership, "container_labels": ownership,
        "mounts": mounts,
        "restart_policy": {"Condition": "none", "Delay": 0, "MaxAttempts": 0, "Window": 0},
        "init": True, "read_only": hardening.read_only,
        "cap_drop": ["ALL"] if hardening.drop_capabilities else None,
        "resources": {"Reservations": {"GenericResources": gpus}} if gpus else None,
    }


def _volume_mount(target: str, volume: str) -> dict:
    return {"Target": target, "Source": volume, "Type": "volume", "ReadOnly": False}


def _tmpfs_mount(target: str, size: int) -> dict:
    return {"Target": target, "Source": None, "Type": "tmpfs", "ReadOnly": False, "TmpfsOptions": {"SizeBytes": size}}


def service_command(kwargs: dict) -> list[str]:
    """The `docker service create` line that does the same (environment values masked)."""
    argv = ["docker", "service", "create", "--mode", "replicated-job",
            "--replicas", str(kwargs["mode"]["ReplicatedJob"]["TotalCompletions"]),
            "--max-concurrent", str(kwargs["mode"]["ReplicatedJob"]["MaxConcurrent"]),
            "--name", kwargs["name"], "--restart-condition", "none", "--init"]
    argv += ["--read-only"] if kwargs["read_only"] else []
    argv += ["--cap-drop", "ALL"] if kwargs["cap_drop"] else []
    for resource in (kwargs.get("resources") or {}).get("Reservations", {}).get("GenericResources", []):
        spec = resource["DiscreteResourceSpec"]
        argv += ["--generic-resource", f"{spec['Kind']}={spec['Value']}"]
    for variable in kwargs["env"]:
        key, _, value = variable.partition("=")
        shown = key in {"SHARD_COUNT", "SWARM_TASK_SLOT", *CACHE_ENVIRONMENT}
        argv += ["--env", f"{key}={value if shown else MASK}"]
    for key, value in kwargs["labels"].items():
        argv += ["--label", f"{key}={value}"]
    for mount in kwargs["mounts"]:
        if mount["Type"] == "tmpfs":
            argv += ["--mount", f"type=tmpfs,target={mount['Target']},tmpfs-size={mount['TmpfsOptions']['SizeBytes']}"]
        else:
            argv += ["--mount", f"type=volume,source={mount['Source']},target={mount['Target']}"]
    return [*argv, kwargs["image"], *kwargs["args"]]


def _require_swarm(client) -> None:
    if engine.swarm_state(client) != "active":
        raise TaskError("this Docker engine is not part of a swarm: `docker swarm init` (or `docker swarm join`), "
                        "then run again")


def swarm_run(settings: Settings, *, shards_count: int, parallel: int | None, image: str | None,
              command: list[str] | None, env_files: Sequence[str], detach: bool, timeout: float, dry_run: bool,
              environ: Mapping[str, str] = os.environ, gpus: int = 0, model_cache: bool = True) -> None:
    """Run the image as a Swarm replicated job, wait for every shard, merge, and remove the service."""
    at_once = shards.check_counts(shards_count, parallel, shards_count)
    job = job_contract.require_sharding(settings.job, settings.root)
    command = command or list(job.shard_command)
    name = f"{settings.project}-shards-{secrets.token_hex(3)}"
    volume = f"{settings.project}-shards"
    spec = workflow.job_spec(settings, image=image or workflow.pushed_image(settings), command=command,
                             env_files=env_files, environ=environ, gpus=gpus)
    kwargs = service_kwargs(spec, name=name, shards_count=shards_count, at_once=at_once, volume=volume,
                            model_cache=model_cache)
    if dry_run:
        print(show(service_command(kwargs)))
        return
    client = engine.connect()
    _require_swarm(client)
    # Made here, labelled, so that `inv clean --all` finds them (Swarm would make them unlabelled).
    engine.ensure_volume(client, volume, labels.for_volume(settings.project, labels.SWARM_SHARDS))
    if model_cache:
        workflow.create_model_cache(client, settings.project)
    service = engine.create_service(client, kwargs)
    print(f"created the Swarm job {name}: {shards_count} shard(s) of {kwargs['image']}, {at_once} at once; "
          f"outputs go to the volume {volume}")
    if detach:
        print(f"  see how it goes: inv swarm-status --name {name}")
        return
    try:
        states = _wait(client, service, shards_count, timeout)
    finally:
        engine.remove_service(service)
    failed = sorted(slot for slot, state in states.items() if state != "complete")
    if failed:
        raise TaskError(f"shard(s) {', '.join(map(str, failed))} of {shards_count} did not complete "
                        f"({', '.join(sorted({states[s] for s in failed}))}); the service was removed")
    print(f"all {shards_count} shard(s) completed; the service was removed")
    if job.merges_after(command):
        _merge_from_volume(client, settings, kwargs["image"], volume)
    _copy_from_volume(client, settings, kwargs["image"], volume)


def _local_exit(client, status: dict) -> str | None:
    """The state a task's container on this node shows, when Swarm has not caught up with its exit."""
    container = (status.get("ContainerStatus") or {}).get("ContainerID")
    details = engine.inspect(client, "container", container) if client is not None and container else None
    if details is None:  # none yet, on another node, or already gone
        return None
    state = details["State"]
    if state["Status"] not in stores.ENDED:
        return None
    return "complete" if state["ExitCode"] == 0 else f"failed: task: non-zero exit ({state['ExitCode']})"


def _task_states(service, client=None) -> dict[int, str]:
    """Each shard's latest state, with Swarm's reason when it did not complete."""
    latest: dict[int, tuple[str, str]] = {}
    for task in engine.service_tasks(service):
        slot, stamp, status = task.get("Slot", 0), task.get("UpdatedAt", ""), task["Status"]
        state = status["State"]
        if state == "running":
            state = _local_exit(client, status) or state
        if state in FINISHED - {"complete"} and status.get("Err"):
            state = f"{state}: {status['Err']}"
        if slot not in latest or stamp > latest[slot][0]:
            latest[slot] = (stamp, state)
    return {slot: state for slot, (_, state) in latest.items()}


def _wait(client, service, shards_count: int, timeout: float) -> dict[int, str]:
    """Report each shard's state as it changes, until every shard has finished."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        states = _task_states(service, client)
        for slot, state in sorted(states.items()):
            if seen.get(slot) != state:
                print(f"shard {slot}/{shards_count}: {state}", flush=True)
        seen = states
        if len(states) >= shards_count and all(s.split(":")[0] in FINISHED for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise TaskError(f"the shards did not finish within {timeout:.0f}s; see `inv swarm-status`")
        time.sleep(0.5)


def _volume_plan(settings: Settings, image: str, volume: str, command: list[str] | None, step: str) -> RunPlan:
    return RunPlan(image=image, name=f"{settings.project}-{step}-{secrets.token_hex(3)}",
                   labels=labels.for_container(settings.project, image), command=command,
                   volumes=[f"{volume}:{settings.job.output_dir}"], output_dir=settings.job.output_dir)


def _merge_from_volume(client, settings: Settings, image: str, volume: str) -> None:
    """Run the job's merge command over the parts in the shared volume, where it writes its result."""
    plan = _volume_plan(settings, image, volume, list(settings.job.merge_command), "merge")
    ended = engine.run_and_follow(client, create_kwargs(plan), plan.remove)
    if ended.code != 0:
        raise merge_failure(ended.code, ended.out_of_memory)


def _copy_from_volume(client, settings: Settings, image: str, volume: str) -> None:
    """Copy what the shards (and the merge) wrote in the shared volume to output/ on this machine."""
    output = settings.output_folder
    plan = _volume_plan(settings, image, volume, None, "copy")  # never started
    copied = engine.copy_out(client, create_kwargs(plan), settings.job.output_dir, output)
    print(f"copied {copied} file(s) from the volume {volume} to {output}")


def swarm_status(settings: Settings, *, name: str | None) -> None:
    """Print the state of each shard of this project's Swarm jobs."""
    client = engine.connect()
    _require_swarm(client)
    filters = {"label": [f"{labels.PROJECT}={settings.project}", SERVICE]}
    services = [s for s in engine.services(client, filters) if not name or s.name == name]
    if name and not services:
        raise TaskError(f"no Swarm job named {name} of {settings.project}; it may have finished and been removed")
    rows, finished = [], []
    for service in services:
        states = _task_states(service, client)
        rows += [(service.name, str(slot), state) for slot, state in sorted(states.items())]
        total = service.attrs["Spec"]["Mode"].get("ReplicatedJob", {}).get("TotalCompletions", 0)
        if len(states) >= total and all(state.split(":")[0] in FINISHED for state in states.values()):
            engine.remove_service(service)
            finished.append(service.name)
    if not rows:
        print(f"no Swarm jobs of {settings.project} are running")
        return
    print(tables.render(("JOB", "SHARD", "STATE"), rows))
    for service_name in finished:
        print(f"{service_name} has finished, so its service was removed; the outputs are in its volume")
    sys.stdout.flush()
