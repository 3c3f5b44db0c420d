"""Scale-out: the same image as N shards on Docker Swarm or AWS Batch (no scheduler of our own).

`inv run --shards N` covers one machine (workflow.run_shards); these hand the shards to an engine
that spreads them over many. Both start from the image in the registry, so push it first.
"""

from __future__ import annotations

import copy
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import batch, labels, registry, selection, shards, tables
from docker_tasks import job as job_contract
from docker_tasks.commands import MASK, show
from docker_tasks.envfiles import container_environment
from docker_tasks.errors import TaskError, merge_failure
from docker_tasks.run_options import TMPFS, TMPFS_SIZE, RunPlan
from docker_tasks.seams import engine, git_state
from docker_tasks.settings import TASKS_ONLY, Settings
from docker_tasks.tags import build_tag

SERVICE = f"{labels.NAMESPACE}.swarm-job"
FINISHED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


def pushed_image(settings: Settings) -> str:
    """The registry reference of the current commit's build: what `inv push` sent."""
    git = git_state.read(settings.root)
    if git.sha is None:
        raise TaskError(f"{git.problem}: name the image with --image REGISTRY/NAME:TAG")
    repository = registry.target_repository(settings.image_name, settings.registry)
    return f"{repository}:{build_tag(git, datetime.now(UTC))}"


def job_spec(settings: Settings, *, image: str, command: list[str], env_files: Sequence[str],
             environ: Mapping[str, str]) -> RunPlan:
    """The job as one value, with the defences of every run: Swarm (service_kwargs) and Batch
    (batch.job_definition) render it as workflow.plan_run's plan is rendered for this engine."""
    environment = container_environment(settings.env_files(env_files, Path.cwd()), [], environ, withheld=TASKS_ONLY)
    return RunPlan(image=image, name=settings.project, labels=labels.for_container(settings.project, image),
                   command=command, environment=environment, output_dir=settings.job.output_dir)


def masked(requests: dict) -> dict:
    """The requests as printed: every plain environment value as ***, like every command line here."""
    printed = copy.deepcopy(requests)
    for value in printed.values():
        for variable in value.get("containerProperties", {}).get("environment", []):
            if variable["name"] != "SHARD_COUNT":
                variable["value"] = MASK
    return printed


# --- AWS Batch ---------------------------------------------------------------------------------

def batch_submit(settings: Settings, *, shards_count: int, queue: str | None, vcpus: str, memory_mib: int,
                 env_files: Sequence[str], image: str | None, command: list[str] | None, dry_run: bool,
                 environ: Mapping[str, str] = os.environ, batch_client=None) -> None:
    """Register a job definition for the image and submit an array job of `shards_count` children."""
    job = job_contract.require_sharding(settings.job, settings.root)
    queue = queue or settings.lookup("BATCH_JOB_QUEUE", environ)
    if not queue:
        raise TaskError("which job queue? give --queue or set BATCH_JOB_QUEUE")
    image = image or pushed_image(settings)
    spec = job_spec(settings, image=image, command=command or list(job.shard_command), env_files=env_files,
                    environ=environ)
    definition = batch.job_definition(spec, vcpus=vcpus, memory_mib=memory_mib, shards=shards_count)
    job = batch.submission(name=batch.job_name(settings.project, image.rpartition(":")[2]), queue=queue,
                           definition=settings.project, shards=shards_count)
    if dry_run:
        print(batch.show(masked({"registerJobDefinition": definition, "submitJob": job})))
        return
    if batch_client is None:
        try:
            import boto3
        except ImportError:
            raise TaskError("AWS Batch needs boto3, an optional extra: pip install boto3") from None
        host = image.split("/")[0]
        region = registry.ECR_HOST.match(host)["region"] if registry.ECR_HOST.match(host) else None
        batch_client = boto3.client("batch", region_name=region)
    job_id, arn = batch.submit(batch_client, definition, job)
    print(f"submitted {job['jobName']} ({shards_count} shard(s)) as job {job_id}, with {arn}")
    print(f"  follow it: aws batch describe-jobs --jobs {job_id}")


# --- Docker Swarm ------------------------------------------------------------------------------

def service_kwargs(spec: RunPlan, *, name: str, shards_count: int, at_once: int, volume: str) -> dict:
    """docker-py `services.create` arguments for the job as a replicated job of `shards_count`
    tasks, with the defences of a local run that Swarm offers: a read-only root with a tmpfs /tmp,
    and no capabilities. Swarm services have no no-new-privileges setting (README, "Scaling out")."""
    from docker.types import Mount, RestartPolicy, ServiceMode

    hardening = spec.hardening
    env = {**spec.environment, "SHARD_COUNT": str(shards_count), "SWARM_TASK_SLOT": "{{.Task.Slot}}"}
    ownership = {**spec.labels, SERVICE: name}
    mounts = [Mount(spec.output_dir, volume, type="volume")]
    if hardening.read_only:
        mounts += [Mount(path, None, type="tmpfs", tmpfs_size=TMPFS_SIZE) for path in TMPFS]
    return {
        "image": spec.image, "args": spec.command, "name": name,  # args: the entrypoint stays the image's
        "mode": ServiceMode("replicated-job", replicas=shards_count, concurrency=at_once),
        "env": [f"{key}={value}" for key, value in env.items()],
        "labels": ownership, "container_labels": ownership,
        "mounts": mounts,
        "restart_policy": RestartPolicy(condition="none"),
        "init": True, "read_only": hardening.read_only,
        "cap_drop": ["ALL"] if hardening.drop_capabilities else None,
    }


def service_command(kwargs: dict) -> list[str]:
    """The `docker service create` line that does the same (environment values masked)."""
    argv = ["docker", "service", "create", "--mode", "replicated-job",
            "--replicas", str(kwargs["mode"]["ReplicatedJob"]["TotalCompletions"]),
            "--max-concurrent", str(kwargs["mode"]["ReplicatedJob"]["MaxConcurrent"]),
            "--name", kwargs["name"], "--restart-condition", "none", "--init"]
    argv += ["--read-only"] if kwargs["read_only"] else []
    argv += ["--cap-drop", "ALL"] if kwargs["cap_drop"] else []
    for variable in kwargs["env"]:
        key, _, value = variable.partition("=")
        argv += ["--env", f"{key}={value if key in {'SHARD_COUNT', 'SWARM_TASK_SLOT'} else MASK}"]
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
              environ: Mapping[str, str] = os.environ) -> None:
    """Run the image as a Swarm replicated job, wait for every shard, merge, and remove the service."""
    at_once = shards.check_counts(shards_count, parallel, shards_count)
    job = job_contract.require_sharding(settings.job, settings.root)
    command = command or list(job.shard_command)
    name = f"{settings.project}-shards-{secrets.token_hex(3)}"
    volume = f"{settings.project}-shards"
    spec = job_spec(settings, image=image or pushed_image(settings), command=command, env_files=env_files,
                    environ=environ)
    kwargs = service_kwargs(spec, name=name, shards_count=shards_count, at_once=at_once, volume=volume)
    if dry_run:
        print(show(service_command(kwargs)))
        return
    client = engine.connect()
    _require_swarm(client)
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
    if state["Status"] not in selection.ENDED:
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
    ended = engine.follow_to_exit(engine.run_container(client, plan), remove=True)
    if ended.code != 0:
        raise merge_failure(ended.code, ended.out_of_memory)


def _copy_from_volume(client, settings: Settings, image: str, volume: str) -> None:
    """Copy what the shards (and the merge) wrote in the shared volume to output/ on this machine."""
    output = settings.output_folder
    plan = _volume_plan(settings, image, volume, None, "copy")  # never started
    copied = engine.copy_out(client, plan, settings.job.output_dir, output)
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
