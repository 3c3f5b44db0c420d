"""Running the image: `inv run` (a container, a shell, or shards on this machine), and the images
and run records it keeps (`inv images`, `inv runs`); the job as one value for Swarm and Batch.

Each task, step by step: resolve, plan, show or carry out through the engine, report. The tasks
in tasks.py only gather flags and call these (building.py builds). Messages say what happened
and what to do next; failures raise TaskError with one line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import commands, labels, platforms, records, registry, stores, tables
from docker_tasks import job as job_contract
from docker_tasks import shards as shards_module
from docker_tasks.envfiles import container_environment
from docker_tasks.errors import TaskError, job_ending, job_hint, merge_failure
from docker_tasks.run_options import (
    DEFENCES,
    Hardening,
    RunPlan,
    cache_volume,
    create_kwargs,
    parse_gpus,
    parse_ipc,
    parse_memory,
    parse_ports,
    parse_volume,
    shm_size_for,
    unmounted_host_paths,
    volume_target,
    with_cache,
)
from docker_tasks.seams import engine, git_state
from docker_tasks.settings import TASKS_ONLY, Settings
from docker_tasks.tags import build_tag

CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _now() -> datetime:
    return datetime.now(UTC)


def output_owner(path: Path) -> str | None:
    """`uid:gid` of the output folder, so that what the job writes there is yours, not root's."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    return f"{info.st_uid}:{info.st_gid}"


def plan_run(
    settings: Settings,
    *,
    image: str | None,
    command: list[str] | None,
    env: Sequence[str] = (),
    env_files: Sequence[str] = (),
    ports: Sequence[str] = (),
    volumes: Sequence[str] = (),
    name: str | None = None,
    entrypoint: str | None = None,
    gpus: str | None = None,
    memory: str | None = None,
    platform: str | None = None,
    shm_size: str | None = None,
    ipc: str | None = None,
    model_cache: bool = True,
    detach: bool = False,
    remove: bool = True,
    hardening: Hardening = DEFENCES,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> RunPlan:
    """Check every option and make the plan; nothing here talks to Docker."""
    cwd = cwd or Path.cwd()
    if name is not None and not CONTAINER_NAME.match(name):
        raise TaskError(f"--name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit")
    binds = [parse_volume(v, cwd) for v in volumes]
    if memory:
        parse_memory(memory)  # checked now, before any Docker call
    if platform and len(platforms.parse(platform)) > 1:
        raise TaskError(f"--platform {platform}: a container runs one platform; choose one, e.g. "
                        f"--platform {platforms.parse(platform)[-1]}")
    output_dir, target = settings.output_folder, settings.job.output_dir
    user = None
    if target not in map(volume_target, binds):
        binds.append(f"{output_dir}:{target}")
        user = output_owner(output_dir)
    image = image or f"{settings.image_name}:latest"
    gpu_request = parse_gpus(gpus) if gpus else None
    environment = container_environment(settings.env_files(env_files, cwd), env, environ, withheld=TASKS_ONLY)
    if model_cache:
        environment, binds = with_cache(environment, binds, settings.project)
    return RunPlan(
        image=image,
        name=name or f"{settings.project}-{secrets.token_hex(3)}",
        labels=labels.for_container(settings.project, image),
        command=command or None,
        entrypoint=entrypoint,
        environment=environment,
        ports=parse_ports(ports),
        volumes=binds,
        user=user,
        detach=detach,
        remove=remove and not detach,
        gpus=gpu_request,
        shm_size=shm_size_for(shm_size, gpu_request, ipc),
        ipc=parse_ipc(ipc) if ipc else None,
        memory=memory,
        platform=platforms.parse(platform)[0] if platform else None,
        hardening=hardening,
        output_dir=target,
    )


def pushed_image(settings: Settings) -> str:
    """The registry reference of the current commit's build: what `inv push` sent, and what Swarm
    and Batch run unless told otherwise."""
    git = git_state.read(settings.root)
    if git.sha is None:
        raise TaskError(f"{git.problem}: name the image with --image REGISTRY/NAME:TAG")
    repository = registry.target_repository(settings.image_name, settings.registry)
    return f"{repository}:{build_tag(git.short_sha, git.dirty_digest, datetime.now(UTC))}"


def job_spec(settings: Settings, *, image: str, command: list[str], env_files: Sequence[str],
             environ: Mapping[str, str], gpus: int = 0) -> RunPlan:
    """The job as one value, with the defences of every run: Swarm (swarm.service_kwargs) and Batch
    (batch.job_definition) render it as plan_run's plan is rendered for this engine. `gpus`: how
    many each shard needs."""
    environment = container_environment(settings.env_files(env_files, Path.cwd()), [], environ, withheld=TASKS_ONLY)
    request = parse_gpus(str(gpus)) if gpus else None
    return RunPlan(image=image, name=settings.project, labels=labels.for_container(settings.project, image),
                   command=command, environment=environment, output_dir=settings.job.output_dir, gpus=request,
                   shm_size=shm_size_for(None, request, None))


def require_image(client, reference: str, platform: str | None = None) -> dict:
    """The image's details; a missing image, or one without the platform asked for, is an error
    that says how to get one (it is never pulled)."""
    image = engine.inspect(client, "image", reference)
    if image is None:
        raise TaskError(f"image not found: {reference}. Build it with `inv build`, pull it with `inv pull`, "
                        "or see what exists with `inv images`")
    lacking = platforms.lacking_message(reference, image, [platform], "--platform") if platform else None
    if lacking:
        raise TaskError(lacking)
    return image


def run(plan: RunPlan, *, settings: Settings, dry_run: bool = False) -> None:
    """Run the plan: a foreground run streams the job's output and fails with the job's exit code."""
    warn_about_unmounted_paths(plan)
    if dry_run:
        print(commands.show(commands.docker_run(plan)))
        return
    settings.output_folder.mkdir(exist_ok=True)
    client = engine.connect()
    image = require_image(client, plan.image, plan.platform)
    ensure_model_cache(client, settings, plan)
    create = create_kwargs(plan)
    with engine.stopped_if_interrupted(client, create, plan.remove):  # from the moment its creation is asked for
        ended = _start_and_follow(client, plan, create, image, output_folder(plan))
    if ended is None:  # detached
        return
    if ended.code != 0:
        hint = job_hint(ended.last_output, plan.output_dir, lambda path: (settings.root / path).exists())
        raise TaskError(f"the job in {plan.image} {job_ending(ended.code, ended.out_of_memory)}"
                        + (f". {hint}" if hint else ""), exit_code=ended.code)


def _start_and_follow(client, plan: RunPlan, create: dict, image: dict,
                      record_folder: Path | None) -> engine.JobEnd | None:
    """Start the container (`create`: the plan's create_kwargs), record the run, and follow it to
    its end; None for a detached run."""
    started = _now()
    container = engine.run_container(client, create)

    def record_the_start() -> dict:
        """The run's record, written as soon as its inputs are fingerprinted: meanwhile the job's
        output is already streaming, and a detached run is already announced."""
        record = records.new_record(
            name=plan.name, image=image, reference=plan.image, command=plan.command, entrypoint=plan.entrypoint,
            env_keys=plan.environment, binds=plan.volumes, output_target=plan.output_dir,
            started=started, detached=plan.detach, container_id=container.id,
        )
        if record_folder:
            records.write(record_folder, record)
        return record

    with ThreadPoolExecutor(max_workers=1) as recorder:
        recording = recorder.submit(record_the_start)
        if plan.detach:
            print(f"started {plan.name} in the background")
            print(f"  follow its logs: inv logs --follow --name {plan.name}")
            print(f"  stop it:         inv stop --name {plan.name}")
            recording.result()
            return None
        ended = engine.follow_to_exit(container, remove=plan.remove)
        record = recording.result()
    if record_folder:
        records.write(record_folder, records.finished(record, _now(), ended.code))
    return ended


def ensure_model_cache(client, settings: Settings, plan: RunPlan) -> None:
    """Create the project's model cache volume before a run that mounts it (create_model_cache)."""
    if any(bind.split(":")[0] == cache_volume(settings.project) for bind in plan.volumes):
        create_model_cache(client, settings.project)


def create_model_cache(client, project: str) -> None:
    """The project's model cache volume, made labelled as its own, unless it exists: the engine would
    make it unlabelled, where `inv clean --all` could not tell it is the project's."""
    engine.ensure_volume(client, cache_volume(project), labels.for_volume(project, labels.MODEL_CACHE))


SHELL = ["sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"]  # bash where the image has it


def shell_plan(plan: RunPlan, settings: Settings, command: Sequence[str]) -> RunPlan:
    """`inv run`'s plan for an interactive shell (or `command`) in the image: src/ mounted read-only
    over the image's copy, so that edits show without a rebuild; removed when it ends."""
    program = list(command) or SHELL
    source = f"{settings.root / 'src'}:/app/src:ro"
    return dataclasses.replace(plan, entrypoint=program[0], command=program[1:] or None, detach=False, remove=True,
                               volumes=[*plan.volumes, source], name=f"{settings.project}-shell-{secrets.token_hex(3)}")


def shell(plan: RunPlan, *, settings: Settings, dry_run: bool, terminal: bool) -> None:
    """Open the shell and end with its exit status."""
    if dry_run:
        print(commands.show(commands.docker_run(plan, terminal=terminal)))
        return
    client = engine.connect()
    require_image(client, plan.image, plan.platform)
    ensure_model_cache(client, settings, plan)
    settings.output_folder.mkdir(exist_ok=True)
    status = engine.run_attached(commands.docker_run(plan, terminal=terminal, values_from_environment=True),
                                 plan.environment)
    if status != 0:
        raise TaskError(f"the shell in {plan.image} ended with exit code {status}", exit_code=status)


def warn_about_unmounted_paths(plan: RunPlan) -> None:
    for path in unmounted_host_paths(plan.command or [], plan.volumes, Path.cwd()):
        print(f"warning: {path} is on this machine but in no mounted folder, so the job cannot see it; mount its "
              f"folder, e.g. --volume {Path(path).resolve().parent}:/app/data:ro, and pass "
              f"/app/data/{Path(path).name} instead")


def run_shards(plan: RunPlan, *, settings: Settings, shards: int, parallel: int | None, dry_run: bool,
               gpus_per_shard: int = 1) -> None:
    """Run `shards` copies of the job on this engine, at most `parallel` at once, then merge their parts."""
    at_once = shards_module.check_counts(shards, parallel, os.cpu_count() or 1)
    job = job_contract.require_sharding(settings.job, settings.root)
    if plan.detach:
        raise TaskError("--shards runs in the foreground, to see every shard end; leave out --detach")
    warn_about_unmounted_paths(plan)
    plans = shards_module.shard_plans(plan, shards, job.shard_command, gpus_per_shard)
    merge = shards_module.merge_plan(plan, job.merge_command) if job.merges_after(plans[0].command) else None
    if dry_run:
        for shard in plans:
            print(commands.show(commands.docker_run(shard)))
        if merge:
            print(f"# at most {at_once} at once; when all succeed:")
            print(commands.show(commands.docker_run(merge)))
        return
    settings.output_folder.mkdir(exist_ok=True)
    client = engine.connect()
    require_image(client, plan.image, plan.platform)
    ensure_model_cache(client, settings, plan)
    folder = output_folder(plan)
    stale = sorted(folder.glob(job.parts)) if folder and job.parts else []
    for part in stale:  # the parts of an earlier sharded run would not merge with these
        part.unlink()
    if stale:
        print(f"removed {len(stale)} part file(s) of an earlier sharded run from {folder}")
    print(f"running {shards} shard(s) of {plan.image}, {at_once} at once")
    codes = engine.run_many(client, [create_kwargs(shard) for shard in plans], at_once, report=_shard_report(shards),
                            remove=plan.remove)
    status = shards_module.combined_status(codes)
    if status != 0:
        failed = [str(i) for i, code in enumerate(codes) if code != 0]
        raise TaskError(f"shard(s) {', '.join(failed)} of {shards} failed (first exit code {status}); their output "
                        "is above. The parts that finished are in output/", exit_code=status)
    if not merge:
        print(f"all {shards} shards finished")
        return
    print(f"all {shards} shards finished; merging")
    ended = engine.run_and_follow(client, create_kwargs(merge), merge.remove)
    if ended.code != 0:
        raise merge_failure(ended.code, ended.out_of_memory)


def _shard_report(shards: int):
    def report(index: int, event: str) -> None:
        print(f"shard {index + 1}/{shards}: {event}", flush=True)

    return report


def output_folder(plan: RunPlan) -> Path | None:
    """The host folder mounted where the job writes, if it is a folder on this machine."""
    for bind in plan.volumes:
        source, target = bind.split(":")[:2]
        if target == plan.output_dir and Path(source).is_absolute() and Path(source).is_dir():
            return Path(source)
    return None


def runs(settings: Settings, *, folder: str | None, limit: int) -> None:
    """Print the run records in the output folder, newest first."""
    where = Path(folder) if folder else settings.output_folder
    found = records.read_all(where)[:limit] if where.is_dir() else []
    if not found:
        print(f"no run records in {where}; `inv run` writes one beside the job's outputs")
        return
    found = _settle_runs(found, where)
    print(tables.render(tables.RUN_HEADERS, tables.run_rows(found)))


def _settle_runs(found: list[dict], folder: Path) -> list[dict]:
    """Fill in how the runs whose end `inv run` did not see (detached ones, and those that lost the
    engine) ended, from their containers, and keep it in their records. The records are shown as
    they are when the engine is not there to ask."""
    if not any(map(records.awaits_end, found)):
        return found
    try:
        client = engine.connect()
    except TaskError:
        return found
    for index, record in enumerate(found):
        ended = records.settle(record, engine.inspect(client, "container", record["container"])) \
            if records.awaits_end(record) else None
        if ended:
            records.write(folder, ended)
            found[index] = ended
    return found


def images(settings: Settings, *, dry_run: bool = False) -> None:
    """Print this project's images, newest first."""
    selector = labels.project_filter(settings.project)
    if dry_run:
        print(commands.show(commands.docker_images(selector)))
        return
    client = engine.connect()
    summaries = [stores.image_summary(*found) for found in engine.images_inspected(client, selector)]
    if not summaries:
        print(f"no images of {settings.project} yet; build one with `inv build`")
        return
    store = stores.image_store(engine.info(client))
    pushes = registry.read_pushes(settings.root)
    rows = tables.image_rows(summaries, _now(), settings.image_name, store, tables.pushed_sizes(pushes))
    print(tables.render(tables.image_headers(store), rows))
    print(stores.SIZE_NOTE[store])
    pushed = tables.pushed_lines(pushes, [s["Id"] for s in summaries])
    if pushed:
        print("\npushed (recorded in .dockertasks/pushes.json):")
        print("\n".join(pushed))

