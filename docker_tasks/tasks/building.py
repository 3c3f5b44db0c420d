"""Building the image: `inv build`, and its `--check` that the image imports what src/ imports.

Each step as the other task modules take it: resolve, plan (build_command, which `inv verify`
and `inv push` share), show or carry out through the engine, report. Only what a build needs is
imported here, since every code change pays for it: a failed build's diagnosis is imported when
a build fails.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import tempfile
from collections.abc import Mapping, Sequence
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
    sbom,
    smoke,
    stores,
)
from docker_tasks import job as job_contract
from docker_tasks.envfiles import parse_assignment
from docker_tasks.errors import STEP_PREFIX, TaskError, failing_step
from docker_tasks.seams import engine, git_state
from docker_tasks.settings import Settings
from docker_tasks.tags import build_tag, tags_for_build


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
        from docker_tasks.build_failure import base_unreachable, package_failure

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
                                 cache_to=cache_to, output=output, provenance=provenance,
                                 build_contexts={LAUNCHER_STAGE: (context or settings.root) / LAUNCHER_FOLDER})


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
# The image's entrypoint comes from the machinery, not the build context, so that a fork's own
# .dockerignore need not let it in: the Dockerfile's `launcher` stage, replaced by this folder.
LAUNCHER_STAGE, LAUNCHER_FOLDER = "launcher", Path("docker_tasks/launcher")
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
    from docker_tasks.run_options import RunPlan, create_kwargs  # here: a build without --check runs nothing

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
