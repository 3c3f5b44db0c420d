"""What each task does, step by step: resolve, plan, show or carry out through the engine, report.

The tasks in tasks.py only gather flags and call these. Messages say what happened and what
to do next; failures raise TaskError with one line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import (
    build_cache,
    build_secrets,
    commands,
    dependency_source,
    labels,
    lockfile,
    platforms,
    records,
    registry,
    sbom,
    smoke,
    stores,
    tables,
)
from docker_tasks import job as job_contract
from docker_tasks import shards as shards_module
from docker_tasks.build_failure import base_unreachable, package_failure
from docker_tasks.envfiles import container_environment, parse_assignment
from docker_tasks.errors import STEP_PREFIX, TaskError, failing_step, job_ending, job_hint, merge_failure
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
from docker_tasks.tags import build_tag, tags_for_build

CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _now() -> datetime:
    return datetime.now(UTC)


def build(
    settings: Settings,
    *,
    extra_tags: Sequence[str] = (),
    build_args: Sequence[str] = (),
    secret_specs: Sequence[str] = (),
    platform: str | None = None,
    no_cache: bool = False,
    reproducible: bool = False,
    dry_run: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """Build the image with BuildKit; return the tags it got."""
    require_lock(settings)
    now = _now()
    git = git_state.read(settings.root)
    own_tag = build_tag(git.short_sha, git.dirty_digest, now)
    tags = tags_for_build(settings.image_name, own_tag, list(extra_tags))
    if reproducible:
        require_commit(git, "--reproducible")
    elif git.problem:
        print(f"warning: {git.problem}, so this build is tagged {tags[0]} instead of a commit SHA; "
              "commit your code (git init; git add -A; git commit) for traceable tags")
    extra_args = dict(parse_assignment(item, environ, flag="--build-arg") for item in build_args)
    if extra_args:
        check_build_args(extra_args, settings.dotenv)
    given_secrets = build_secrets.parse_all(secret_specs, Path.cwd())
    secret_values = build_secrets.values_for(given_secrets, environ, settings.dotenv)
    targets = target_platforms(platform, settings)
    cache_from, cache_to = settings.cache_from, settings.cache_to and build_cache.export_spec(settings.cache_to)
    check_store_can_build(targets, cache_from, cache_to, environ, dry_run)
    with tempfile.TemporaryDirectory(prefix="commit-") as folder:
        context = Path(folder) if reproducible else settings.root
        argv = build_command(settings, git, tags, build_args=extra_args, created=git_state.build_time(git, now),
                             own_tag=own_tag, platforms=targets, no_cache=no_cache,
                             reproducible=reproducible, context=context, secrets=given_secrets,
                             cache_from=cache_from, cache_to=cache_to)
        if dry_run:
            if reproducible:
                print(commands.export_commit(git.short_sha, Path(folder), git_state.FILE_TIME))
            print(commands.show(argv))
            print(f"# base image: {settings.base_choice()[1]}")
            return tags
        if reproducible:
            git_state.export_commit(settings.root, git.sha, Path(folder))
        log = settings.root / BUILD_LOG
        status, tail = engine.run_process(argv, keep=400, env=secret_values, log=log, shown_as=BuildView())
    if status != 0:
        engine.require_buildx()  # checked only now: the common, successful path pays nothing for it
        print(f"the whole build's output: {BUILD_LOG} (less {BUILD_LOG})")
        hashes = any(marker in line for line in tail for marker in HASH_TROUBLE)  # not the package's fault
        diagnosed = None if hashes else package_failure(tail) or base_unreachable(tail, settings.base_name())
        raise TaskError(diagnosed or f"the build failed{build_failure(tail)}; the failing step's output is above, and "
                        "earlier images and their tags are unchanged")
    built_for = f" for {', '.join(targets)}" if len(targets) > 1 else ""
    print(f"built {' '.join(tags)}{built_for}" + (", reproducibly: `inv verify` checks it" if reproducible else ""))
    print("run it with: inv run")
    return tags


def check_store_can_build(targets: Sequence[str], cache_from: str | None, cache_to: str | None,
                          environ: Mapping[str, str], dry_run: bool) -> None:
    """Several platforms, and most cache exports, need the containerd image store: asked of the
    engine only then, and not in a dry run, which talks to no engine."""
    needs_store = not dry_run and (len(targets) > 1 or (cache_to and "type=inline" not in cache_to))
    store = stores.image_store(engine.info(engine.connect())) if needs_store else None
    if len(targets) > 1 and store == stores.CLASSIC:
        raise TaskError(platforms.multi_platform_refusal(targets))
    found = build_cache.problem(cache_from, cache_to, store, environ)
    if found:
        raise TaskError(found)


def target_platforms(flag: str | None, settings: Settings) -> list[str]:
    """The platforms to build: --platform, else PLATFORM; none means the engine's own."""
    if flag:
        return platforms.parse(flag)
    return platforms.parse(settings.platform, "PLATFORM") if settings.platform else []


def build_command(settings: Settings, git, tags: list[str], *, build_args: Mapping[str, str], created: datetime,
                  own_tag: str, platforms: Sequence[str] = (), no_cache: bool = False, reproducible: bool = False,
                  context: Path | None = None, secrets: Sequence[build_secrets.BuildSecret] = (),
                  cache_from: str | None = None, cache_to: str | None = None, output: str | None = None,
                  provenance: bool = False) -> list[str]:
    """The `docker buildx build` of a build: its arguments and labels. A reproducible one builds the
    Dockerfile's reproducible stages, and is dated by its commit (SOURCE_DATE_EPOCH: the image's
    created date and history); an everyday one keeps the time it was built, which `inv rmi --keep`
    orders builds by."""
    args = {**settings.index_and_base_args, "JOB_OUTPUT_DIR": settings.job.output_dir,
            "JOB_COMMAND": shlex.join(settings.job.command), "JOB_DEFAULT_ARGS": shlex.join(settings.job.default_args),
            **labels.oci_build_args(settings.project, sha=git.sha, describe=git.describe, remote_url=git.remote_url,
                                    created=created), **build_args}
    image_labels = labels.for_image(settings.project, sha=git.sha, dirty=git.dirty, build_tag=own_tag)
    image_labels[labels.LOCK] = sbom.lock_digest((settings.root / lockfile.LOCK_FILE).read_text())
    if platforms:  # the engine reports only the platform an image runs here (platforms.py)
        image_labels[labels.PLATFORMS] = ",".join(platforms)
    if reproducible:
        args |= {"BUILD_MODE": "reproducible", "SOURCE_DATE_EPOCH": str(int(git.commit_time.timestamp()))}
        image_labels[labels.REPRODUCIBLE] = "true"
    return commands.buildx_build(context or settings.root, tags, image_labels, args,
                                 platform=",".join(platforms) or None, no_cache=no_cache,
                                 secrets=[secret.flag for secret in secrets], cache_from=cache_from,
                                 cache_to=cache_to, output=output, provenance=provenance)


def require_lock(settings: Settings) -> None:
    """Refuse to build from a missing or stale requirements.lock, or without the package lists the
    Dockerfile installs, in one line that says what to do."""
    for listing in PACKAGE_LISTS:
        if not (settings.root / listing).is_file():
            raise TaskError(f"{listing} is missing, and the Dockerfile installs what it lists; create it (it may hold "
                            "only comments), then build again")
    found = dependency_source.lock_problem(settings.root, settings.job)
    if found:
        raise TaskError(found)


BUILD_LOG = ".dockertasks/build.log"  # the last build's whole output
PACKAGE_LISTS = ("system-packages.txt", "build-packages.txt")


class BuildView:
    """What a build shows as it goes: every line, but not BuildKit's summary of a failure (the
    failing step's command line again, and the Dockerfile around it), which the task's own one line
    replaces; the log keeps it."""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self, line: str) -> str | None:
        self.failed = self.failed or bool(re.match(r"^(#\d+ ERROR:|ERROR:|------$)", line))
        return None if self.failed else line


def require_commit(git, option: str) -> None:
    """Reproducible builds and their checks are of a commit: a tree with changes has none to name."""
    if git.problem or not git.sha:
        raise TaskError(f"{option} builds a commit, and {git.problem or 'there is none'}; commit your code first")
    if git.dirty:
        raise TaskError(f"{option} builds a commit, and this checkout has uncommitted changes; commit them "
                        "(or stash them) first, so that the image is the commit's")


def smoke_check(settings: Settings, image: str, client=None) -> list[str]:
    """Run smoke.py's check in `image`: what is wrong with it, a line each; empty when nothing is."""
    client = client or engine.connect()
    modules = smoke.imported_modules(job_contract.job_sources(settings.root))
    plan = RunPlan(image=image, name=f"{settings.project}-check-{secrets.token_hex(3)}",
                   labels=labels.for_container(settings.project, image), entrypoint="python",
                   command=["-c", smoke.SCRIPT, *modules], output_dir=settings.job.output_dir)
    code, output = engine.run_to_end(client, create_kwargs(plan))
    found = smoke.problems(output)
    if found is None:
        last = output.strip().splitlines()[-1:] or [f"exit code {code}"]
        return [f"the check could not run in {image}: {last[0][:300]}"]
    return found


def check_image(settings: Settings, image: str) -> None:
    """`inv build --check`: the image imports what src/ imports and compiles src/, or a one-line error."""
    found = smoke_check(settings, image)
    if found:
        raise TaskError(f"{image} is built but broken: {'; '.join(found)}")
    print(f"checked {image}: it imports every module src/ imports, and src/ compiles")


HASH_TROUBLE = ("Hash mismatch", "must have a hash")


def build_failure(tail: Sequence[str]) -> str:
    """`: <why>` from the end of a build's output, or nothing if it does not say: a hash the lock
    does not hold, else the failing step's own error line, else BuildKit's."""
    hashes = [line for line in tail if any(marker in line for marker in HASH_TROUBLE)]
    if hashes:
        found = re.sub(STEP_PREFIX, "", hashes[-1]).strip()
        return (f": {lockfile.LOCK_FILE} does not match the files the package index serves ({found[:200]}); "
                "it was edited by hand, or a release was replaced: run `inv lock`, and build again")
    reason = failing_step(tail)
    return f": {reason[:300]}" + ("..." if len(reason) > 300 else "") if reason else ""


def check_build_args(build_args: Mapping[str, str], dotenv: Mapping[str, str | None]) -> None:
    """Refuse a build argument that carries a value from .env: build arguments stay readable in the
    image's history, so secrets must never travel that way."""
    secrets = {value for value in dotenv.values() if value and len(value) >= 4}
    for key, value in build_args.items():
        if value in secrets:
            raise TaskError(f"--build-arg {key}: its value comes from .env, and build arguments stay readable in "
                            "`docker history`; pass secrets with a BuildKit secret mount "
                            "(RUN --mount=type=secret) or at run time with `inv run`")


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
    print(tables.render(tables.image_headers(store), tables.image_rows(summaries, _now(), settings.image_name, store)))
    print(stores.SIZE_NOTE[store])
    pushed = tables.pushed_lines(registry.read_pushes(settings.root), [s["Id"] for s in summaries])
    if pushed:
        print("\npushed (recorded in .dockertasks/pushes.json):")
        print("\n".join(pushed))

