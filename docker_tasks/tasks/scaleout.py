"""Scale-out: the same image as N shards on Docker Swarm or AWS Batch (no scheduler of our own).

`inv run --shards N` covers one machine (workflow.run_shards); these hand the shards to an engine
that spreads them over many. Both start from the image in the registry, so push it first.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import batch, batch_environment, labels, records, registry, shards, stores, tables
from docker_tasks import job as job_contract
from docker_tasks.commands import MASK, show
from docker_tasks.envfiles import container_environment
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
    parse_gpus,
    parse_memory,
    shm_size_for,
)
from docker_tasks.seams import engine, git_state
from docker_tasks.seams.aws import Clients, aws_errors, bucket_missing, submit_job
from docker_tasks.settings import TASKS_ONLY, Settings
from docker_tasks.tags import build_tag, split_reference

SERVICE = f"{labels.NAMESPACE}.swarm-job"
FINISHED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


def pushed_image(settings: Settings) -> str:
    """The registry reference of the current commit's build: what `inv push` sent."""
    git = git_state.read(settings.root)
    if git.sha is None:
        raise TaskError(f"{git.problem}: name the image with --image REGISTRY/NAME:TAG")
    repository = registry.target_repository(settings.image_name, settings.registry)
    return f"{repository}:{build_tag(git.short_sha, git.dirty_digest, datetime.now(UTC))}"


def job_spec(settings: Settings, *, image: str, command: list[str], env_files: Sequence[str],
             environ: Mapping[str, str], gpus: int = 0) -> RunPlan:
    """The job as one value, with the defences of every run: Swarm (service_kwargs) and Batch
    (batch.job_definition) render it as workflow.plan_run's plan is rendered for this engine.
    `gpus`: how many each shard needs."""
    environment = container_environment(settings.env_files(env_files, Path.cwd()), [], environ, withheld=TASKS_ONLY)
    request = parse_gpus(str(gpus)) if gpus else None
    return RunPlan(image=image, name=settings.project, labels=labels.for_container(settings.project, image),
                   command=command, environment=environment, output_dir=settings.job.output_dir, gpus=request,
                   shm_size=shm_size_for(None, request, None))


def masked(requests: dict) -> dict:
    """The requests as printed: every plain environment value as ***, like every command line here."""
    printed = copy.deepcopy(requests)
    for value in printed.values():
        for variable in value.get("containerProperties", {}).get("environment", []):
            if variable["name"] != "SHARD_COUNT":
                variable["value"] = MASK
    return printed


# --- AWS Batch ---------------------------------------------------------------------------------

BATCH_JOBS = Path(".dockertasks") / "batch-jobs.json"  # the jobs submitted here, for batch-status
# How long a job's presigned S3 links last: a week, the most SigV4 signs for, so that a job may wait
# in the queue and run for days. Links signed with temporary credentials end with them.
PRESIGNED_FOR = 7 * 24 * 3600


def batch_submit(settings: Settings, *, shards_count: int, queue: str | None, vcpus: str, memory_mib: int,
                 env_files: Sequence[str], image: str | None, command: list[str] | None, dry_run: bool,
                 wait: bool = False, files: Sequence[str] = (), poll_seconds: float = 5.0, gpus: int = 0,
                 environ: Mapping[str, str] = os.environ, aws: Clients | None = None) -> None:
    """Register a job definition for the image and submit an array job of `shards_count` children,
    each with a presigned POST to upload its outputs with (when batch-setup made the bucket); with
    `files`, send those along for each child; with `wait`, follow it until every child has ended,
    then collect and merge what they uploaded (as batch-collect does later for a job not waited for)."""
    sent = [_readable(name) for name in files]
    job = job_contract.require_sharding(settings.job, settings.root)
    queue = queue or settings.lookup("BATCH_JOB_QUEUE", environ) or f"{settings.project}-queue"  # batch-setup's
    image = image or pushed_image(settings)
    command = command or list(job.shard_command)
    spec = job_spec(settings, image=image, command=command, env_files=env_files, environ=environ, gpus=gpus)

    def definition(fargate_execution_role: str | None = None) -> dict:
        return batch.job_definition(spec, vcpus=vcpus, memory_mib=memory_mib, shards=shards_count,
                                    fargate_execution_role=fargate_execution_role)

    request = batch.submission(name=batch.job_name(settings.project, image.rpartition(":")[2]), queue=queue,
                               definition=settings.project, shards=shards_count)
    if dry_run:
        print(batch.show(masked({"registerJobDefinition": definition(), "submitJob": request})))
        return
    aws = aws or Clients(registry.ecr_region_of(image))
    with aws_errors():
        fargate = _require_queue(aws.batch, queue) == "FARGATE"
        registered = definition(batch_environment.role_arn(
            aws.account, batch_environment.role_name(settings.project, "execution")) if fargate else None)
        _require_in_ecr(aws, image)
        destination = _upload_destination(aws, settings.project, request["jobName"])
        if sent and destination is None:
            raise TaskError("--file travels through the S3 bucket that `inv batch-setup` makes, and there is none yet; "
                            "run `inv batch-setup` first")
        overrides = ([{"name": batch.DOWNLOAD_VARIABLE, "value": json.dumps(_send(aws, *destination[:2], sent))}]
                     if sent else [])
        if destination:
            overrides.append({"name": batch.UPLOAD_VARIABLE, "value": json.dumps(destination[2])})
    if overrides:
        request["containerOverrides"] = {"environment": overrides}
    job_id, arn = submit_job(aws.batch, registered, request)
    print(f"submitted {request['jobName']} ({shards_count} shard(s)) as job {job_id}, with {arn}")
    submitted = {"job": job_id, "name": request["jobName"], "shards": shards_count, "queue": queue, "image": image,
                 "command": command, **({"bucket": destination[0], "prefix": destination[1]} if destination else {})}
    records.append_to_list(settings.root / BATCH_JOBS, submitted, keep=100)
    if not wait:
        print(f"  follow it: inv batch-status --job {job_id}; a shard's output: "
              f"inv batch-logs --job {job_id} --index 0")
        if destination:
            print(f"  once it has ended, its outputs: inv batch-collect --job {job_id}")
        return
    _follow(aws, job_id, shards_count, poll_seconds)
    _collect_and_merge(aws, settings, submitted)


def batch_collect(settings: Settings, *, job_id: str | None, wait: bool, poll_seconds: float = 5.0,
                  aws: Clients | None = None) -> None:
    """What the shards of a submitted job uploaded, into output/, merged as `batch-submit --wait`
    would have; with `wait`, after following the job to its end."""
    submitted = _submitted(settings, job_id)
    if "prefix" not in submitted:
        raise TaskError(f"job {submitted['job']} was given nowhere to upload its outputs (it was submitted from "
                        "another checkout, or before `inv batch-setup` made the S3 bucket); submit it again from here")
    aws, job_id, parent, shards_count = _submitted_job(settings, submitted, aws)
    if parent.get("status") not in batch.ENDED and not wait:
        states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
        raise TaskError(f"job {job_id} has not ended yet ({parent.get('status')}; {batch.counts(states)}): collect "
                        f"it once it has (`inv batch-status --job {job_id}`), or add --wait to follow it to the end")
    _follow(aws, job_id, shards_count, poll_seconds)
    _collect_and_merge(aws, settings, submitted)


def _collect_and_merge(aws: Clients, settings: Settings, submitted: dict) -> None:
    """Download what the shards of a job that succeeded uploaded, then run the job's merge command
    over it here, with the image the shards ran (or this project's build of its tag)."""
    if "prefix" not in submitted:
        print("the shards' parts stay where the job put them: `inv batch-setup` makes the S3 bucket that "
              "they upload them to")
        return
    command, image = submitted["command"], submitted["image"]
    job = settings.job
    if _collect(aws, settings, submitted["bucket"], submitted["prefix"]) and job.merges_after(command):
        from docker_tasks.tasks import workflow

        print(f"merging the parts: {' '.join(job.merge_command)}")
        local = image if engine.inspect(engine.connect(), "image", image) else \
            f"{settings.image_name}:{image.rpartition(':')[2]}"
        workflow.run(workflow.plan_run(settings, image=local, command=list(job.merge_command)), settings=settings)


def _readable(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise TaskError(f"--file {name}: no such file here; name a file to send along with the job, "
                        "e.g. --file output/model.joblib")
    return path


def _send(aws: Clients, bucket: str, prefix: str, files: Sequence[Path]) -> dict[str, str]:
    """Upload each file below the run's prefix; return, by file name, a presigned GET (valid a week,
    PRESIGNED_FOR) with which a shard downloads it into its output folder."""
    links = {}
    with aws_errors():
        for path in files:
            key = f"{prefix}inputs/{path.name}"
            aws.s3.upload_file(str(path), bucket, key)
            links[path.name] = aws.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                             ExpiresIn=PRESIGNED_FOR)
    print(f"sent {len(links)} file(s) along: {', '.join(links)}, into each shard's output folder")
    return links


def _upload_destination(aws: Clients, project: str, job_name: str) -> tuple[str, str, dict] | None:
    """The bucket, the prefix and the presigned POST (valid a week) with which each shard may upload
    files below that prefix and nowhere else; None when batch-setup made no bucket. A presigned
    POST needs no AWS library in the image: the sample's src/outputs.py sends it with the
    standard library."""
    bucket = batch_environment.bucket_name(project, aws.account)
    if bucket_missing(aws.s3, bucket, refused_is_missing=True):
        return None
    prefix = batch_environment.run_prefix(job_name, secrets.token_hex(3))
    post = aws.s3.generate_presigned_post(bucket, prefix + "${filename}", ExpiresIn=PRESIGNED_FOR,
                                          Conditions=[["starts-with", "$key", prefix]])
    return bucket, prefix, {"url": post["url"], "fields": post["fields"], "prefix": prefix}


def _collect(aws: Clients, settings: Settings, bucket: str, prefix: str) -> int:
    """Download what the shards uploaded into output/, replacing the parts of an earlier run."""
    folder = settings.output_folder
    folder.mkdir(exist_ok=True)
    inside = folder.resolve()
    job = settings.job
    for stale in sorted(folder.glob(job.parts)) if job.parts else []:
        stale.unlink()
    count = 0
    with aws_errors():
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):]
                target = (inside / relative).resolve()
                if not relative or relative.startswith("inputs/") or inside not in target.parents:
                    continue  # what was sent along, or a key that would land outside output/
                target.parent.mkdir(parents=True, exist_ok=True)
                aws.s3.download_file(bucket, item["Key"], str(target))
                count += 1
    if count:
        print(f"collected {count} file(s) from s3://{bucket}/{prefix} into {folder}")
    else:
        print(f"the shards left nothing in s3://{bucket}/{prefix}: a job uploads its outputs when "
              f"{batch.UPLOAD_VARIABLE} is set (README, \"Where the shards run\")")
    return count


def _require_queue(batch_client, queue: str) -> str:
    """Refuse a queue that is missing or cannot take jobs; return what its compute is, EC2 or FARGATE
    (a queue serves one kind, and the job definition differs)."""
    found = batch_client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    if not found:
        raise TaskError(f"there is no job queue {queue} in this account and region; `inv batch-setup` makes one, "
                        "or give --queue (BATCH_JOB_QUEUE) the name of yours")
    problem = batch_environment.queue_problem(found[0])
    if problem:
        raise TaskError(problem)
    order = found[0].get("computeEnvironmentOrder") or [{}]
    computes = batch_client.describe_compute_environments(
        computeEnvironments=[order[0].get("computeEnvironment", "")])["computeEnvironments"] if order[0] else []
    kind = (computes[0].get("computeResources") or {}).get("type", "EC2") if computes else "EC2"
    return "FARGATE" if kind.startswith("FARGATE") else "EC2"


def _require_in_ecr(aws: Clients, image: str) -> None:
    """An ECR image must be there before Batch is asked to run it: else every shard fails to start."""
    host, _, rest = image.partition("/")
    if not registry.ECR_HOST.match(host):
        return
    repository, tag = split_reference(rest)
    wanted = {"imageDigest": rest.split("@", 1)[1]} if "@" in rest else {"imageTag": tag or "latest"}
    try:
        aws.ecr.describe_images(repositoryName=repository, imageIds=[wanted])
    except (aws.ecr.exceptions.ImageNotFoundException, aws.ecr.exceptions.RepositoryNotFoundException):
        raise TaskError(f"{image} is not in ECR, so no shard could start; push it first: "
                        "inv login --ecr && inv push") from None


def _jobs(batch_client, ids: list[str]) -> list[dict]:
    """describe_jobs takes 100 ids a call."""
    with aws_errors():
        return [job for start in range(0, len(ids), 100)
                for job in batch_client.describe_jobs(jobs=ids[start:start + 100])["jobs"]]


def _follow(aws: Clients, job_id: str, shards_count: int, poll_seconds: float) -> None:
    """Print each shard's state as it changes until all have ended; fail, with the failed shards'
    output, if any did. Ctrl-C stops the following, not the job."""
    seen: dict[int, str] = {}
    try:
        while True:
            states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
            for index, state in sorted(states.items()):
                if seen.get(index) != state:
                    print(f"shard {index}/{shards_count}: {state}", flush=True)
            seen = states
            if batch.finished(states, shards_count):
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        raise TaskError(f"stopped following; job {job_id} goes on in AWS Batch: follow it with "
                        f"`inv batch-status --job {job_id}`, or cancel it with "
                        f"`aws batch terminate-job --job-id {job_id} --reason cancelled`") from None
    print(batch.counts(states))
    failed = batch.failed_shards(states)
    for index in failed:
        lines = _log_lines(aws, batch.child_ids(job_id, shards_count)[index])
        print(f"--- shard {index}, the last {min(len(lines), 20)} line(s) of its output:")
        print("\n".join(lines[-20:]) or "(no output)")
    if failed:
        raise TaskError(f"shard(s) {', '.join(map(str, failed))} of {shards_count} failed: "
                        f"{'; '.join(sorted({states[i] for i in failed}))}; their output is above, and "
                        f"`inv batch-logs --job {job_id} --index N` shows a shard's whole output")
    print(f"all {shards_count} shard(s) succeeded")


def _log_lines(aws: Clients, child_id: str) -> list[str]:
    """A job's output from CloudWatch Logs, oldest first; empty while it has none."""
    (job,) = _jobs(aws.batch, [child_id]) or [{}]
    stream = batch.log_stream(job)
    if not stream:
        return []
    lines, token = [], None
    with aws_errors():
        while True:
            page = aws.logs.get_log_events(logGroupName=batch.LOG_GROUP, logStreamName=stream, startFromHead=True,
                                           **({"nextToken": token} if token else {}))
            lines += [event["message"] for event in page["events"]]
            if not page["events"] or page.get("nextForwardToken") == token:
                return lines
            token = page.get("nextForwardToken")


def _submitted(settings: Settings, job_id: str | None) -> dict:
    """The job asked for, else the last one submitted from here."""
    known = records.read_list(settings.root / BATCH_JOBS)
    if job_id:
        return next((job for job in reversed(known) if job["job"] == job_id), {"job": job_id})
    if not known:
        raise TaskError("no Batch job was submitted from here; give --job ID (from `inv batch-submit`)")
    return known[-1]


def _submitted_job(settings: Settings, submitted: dict, aws: Clients | None) -> tuple[Clients, str, dict, int]:
    """The clients, the id of the `submitted` job (_submitted), what Batch says of it, and its
    number of shards."""
    aws = aws or Clients(registry.ecr_region_of(submitted.get("image", settings.image_name)))
    (parent,) = _jobs(aws.batch, [submitted["job"]]) or [None]
    if parent is None:
        raise TaskError(f"AWS Batch knows no job {submitted['job']} (it forgets jobs a week or so after they end)")
    return aws, submitted["job"], parent, (parent.get("arrayProperties") or {}).get("size") or 1


def batch_status(settings: Settings, *, job_id: str | None, aws: Clients | None = None) -> None:
    """Each shard's state in a submitted job, and the counts."""
    aws, job_id, parent, shards_count = _submitted_job(settings, _submitted(settings, job_id), aws)
    states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
    print(f"job {job_id} ({parent.get('jobName')}): {parent.get('status')}")
    print(tables.render(("SHARD", "STATE"), [(str(index), state) for index, state in sorted(states.items())]))
    print(batch.counts(states))


def batch_logs(settings: Settings, *, job_id: str | None, index: int, aws: Clients | None = None) -> None:
    """One shard's output, from CloudWatch Logs."""
    aws, job_id, _, shards_count = _submitted_job(settings, _submitted(settings, job_id), aws)
    if not 0 <= index < shards_count:
        raise TaskError(f"--index {index}: job {job_id} has shards 0 to {shards_count - 1}")
    child = batch.child_ids(job_id, shards_count)[index]
    lines = _log_lines(aws, child)
    if not lines:
        (job,) = _jobs(aws.batch, [child])
        print(f"shard {index} has no output yet ({job.get('status')})")
        return
    print("\n".join(lines))


# --- Docker Swarm ------------------------------------------------------------------------------

SWARM_GPU = "NVIDIA-GPU"  # the kind NVIDIA's documentation has nodes advertise


def service_kwargs(spec: RunPlan, *, name: str, shards_count: int, at_once: int, volume: str,
                   model_cache: bool = True) -> dict:
    """docker-py `services.create` arguments for the job as a replicated job of `shards_count`
    tasks, with the defences of a local run that Swarm offers: a read-only root with a tmpfs /tmp,
    and no capabilities. Swarm services have no no-new-privileges setting (README, "Scaling out").
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
    spec = job_spec(settings, image=image or pushed_image(settings), command=command, env_files=env_files,
                    environ=environ, gpus=gpus)
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
        from docker_tasks.tasks.workflow import create_model_cache

        create_model_cache(client, settings.project)
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
