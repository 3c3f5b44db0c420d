"""The lifecycle tasks: version tags, this project's containers and images, and the clean-up.

Everything is selected by the ownership labels (labels.py), never by a name pattern. Destructive
steps take `dry_run`, treat an empty selection as a no-op, and take "already gone" in their stride.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from docker_tasks import cleanup, engine, git_state, labels, selection, stores, tables
from docker_tasks.commands import show
from docker_tasks.errors import TaskError
from docker_tasks.settings import Settings, parse_keep
from docker_tasks.tags import build_tag, check_tag


def _now() -> datetime:
    return datetime.now(UTC)


def _containers(client, settings: Settings) -> list[dict]:
    with engine.docker_errors():
        return client.api.containers(all=True, filters=labels.container_filter(settings.project))


def _all_containers(client) -> list[dict]:
    with engine.docker_errors():
        return client.api.containers(all=True)


def _images(client, settings: Settings) -> list[dict]:
    return engine.image_summaries(client, labels.project_filter(settings.project))


def _pick(client, settings: Settings, name: str | None, every: bool, task: str) -> list[dict]:
    return selection.pick_containers(
        _containers(client, settings), name=name, every=every, project=settings.project, task=task,
        all_names=(selection.container_name(c) for c in _all_containers(client)),
    )


# --- versions -----------------------------------------------------------------------------------

def tag(settings: Settings, *, version: str, source: str | None, allow_dirty: bool, force: bool,
        git_tag: bool, dry_run: bool) -> None:
    """Give an image of this project a version tag, and optionally its commit a git tag."""
    selection.check_version(version)
    if source is None:
        git = git_state.read(settings.root)
        if git.sha is None:
            raise TaskError(f"{git.problem}, so there is no current commit to version; name an image with --source TAG")
        source = build_tag(git, _now())
    client = engine.connect()
    source_ref, target_ref = f"{settings.image_name}:{source}", f"{settings.image_name}:{version}"
    image = engine.owned_image(client, settings.project, source_ref)
    image_labels = image["Config"].get("Labels") or {}
    if labels.built_dirty(image_labels) and not allow_dirty:
        raise TaskError(f"{source_ref} was built from uncommitted changes, so a version of it could not be rebuilt; "
                        "commit and `inv build` first, or add --allow-dirty")
    existing = engine.inspect(client, "image", target_ref)
    if existing and existing["Id"] != image["Id"] and not force:
        raise TaskError(f"{target_ref} already names another image ({tables.short_id(existing)}); "
                        "add --force to move it, or pick a new version")
    sha = image_labels.get(labels.GIT_SHA)
    git_name = selection.git_tag_name(version)
    if git_tag and (not sha or sha == "none"):
        raise TaskError(f"{source_ref} has no git commit in its labels, so it cannot get a git tag")
    if dry_run:
        print(show(["docker", "tag", source_ref, target_ref]))
        if git_tag:
            print(show(["git", "tag", "--annotate", *(["--force"] if force else []), git_name, sha,
                        "--message", f"{settings.project} {version}"]))
        return
    if existing and existing["Id"] == image["Id"]:
        print(f"{target_ref} already names {source_ref}; nothing to change")
    else:
        with engine.docker_errors():
            client.api.tag(image["Id"], settings.image_name, version, force=True)
        print(f"tagged {source_ref} as {target_ref}")
    if git_tag:
        git_state.create_tag(settings.root, git_name, sha, f"{settings.project} {version} ({target_ref})", force=force)
        print(f"created git tag {git_name} at {sha[:12]}; share it with `git push origin {git_name}`")


# --- containers ---------------------------------------------------------------------------------

def ps(settings: Settings, *, dry_run: bool) -> None:
    """Print this project's containers, running and stopped, newest first."""
    selector = labels.container_filter(settings.project)
    if dry_run:
        print(show(["docker", "ps", "--all", *[f"--filter=label={v}" for v in selector["label"]]]))
        return
    containers = _containers(engine.connect(), settings)
    if not containers:
        print(f"no containers of {settings.project}; start one with `inv run`")
        return
    print(tables.render(tables.CONTAINER_HEADERS, tables.container_rows(containers, _now(), settings.image_name)))


def logs(settings: Settings, *, name: str | None, follow: bool, tail: str, dry_run: bool) -> None:
    """Print a container's output; the newest container of this project unless one is named."""
    if tail != "all" and not tail.isdigit():
        raise TaskError(f"--tail {tail!r}: give a number of lines, or all")
    client = engine.connect()
    if name:
        container = _pick(client, settings, name, False, "logs")[0]
    else:
        container = selection.newest(_containers(client, settings))
        if container is None:
            raise TaskError(f"{settings.project} has no containers; start one with `inv run --detach`")
    cname = selection.container_name(container)
    if dry_run:
        print(show(["docker", "logs", *(["--follow"] if follow else []), "--tail", tail, cname]))
        return
    print(f"--- logs of {cname} ({container.get('Status', '')}) ---", file=sys.stderr)
    with engine.docker_errors():
        try:
            for chunk in client.api.logs(container["Id"], stream=True, follow=follow,
                                         tail=tail if tail == "all" else int(tail)):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            print(f"\nstopped following {cname}; it keeps running", file=sys.stderr)


def _act_on_running(settings: Settings, *, name: str | None, every: bool, dry_run: bool, task: str,
                    command: list[str], act: Callable[[object, dict], str]) -> None:
    """Shared by stop and kill: pick, skip what is not running, act, report each container."""
    client = engine.connect()
    picked = _pick(client, settings, name, every, task)
    running = [c for c in picked if selection.is_running(c)]
    for container in picked:
        if not selection.is_running(container):
            print(f"{cleanup.describe_container(container)} is not running; nothing to do")
    if not running:
        if every:
            print(f"no running containers of {settings.project}; nothing to {task}")
        return
    for container in running:
        if dry_run:
            print(show([*command, selection.container_name(container)]))
        else:
            print(act(client, container))


def stop(settings: Settings, *, name: str | None, every: bool, timeout: int, dry_run: bool) -> None:
    """Stop gracefully: SIGTERM, then SIGKILL after `timeout` seconds."""
    if timeout < 0:
        raise TaskError(f"--timeout {timeout}: give the seconds to wait before SIGKILL, 0 or more")

    def act(client, container: dict) -> str:
        started = time.monotonic()
        code = engine.stop_container(client, container["Id"], timeout)
        if code is None:
            return f"{selection.container_name(container)} is already gone"
        return f"stopped {selection.container_name(container)} in {time.monotonic() - started:.1f}s (exit code {code})"

    _act_on_running(settings, name=name, every=every, dry_run=dry_run, task="stop",
                    command=["docker", "stop", "--time", str(timeout)], act=act)


def kill(settings: Settings, *, name: str | None, every: bool, signal: str, dry_run: bool) -> None:
    """Send a signal (SIGKILL by default) to running containers."""
    signame = selection.parse_signal(signal)

    def act(client, container: dict) -> str:
        with engine.docker_errors():
            client.api.kill(container["Id"], signal=signame)
        return f"sent {signame} to {selection.container_name(container)}"

    _act_on_running(settings, name=name, every=every, dry_run=dry_run, task="kill",
                    command=["docker", "kill", "--signal", signame], act=act)


def rm(settings: Settings, *, name: str | None, every: bool, force: bool, dry_run: bool) -> None:
    """Remove containers; a running one only with --force."""
    client = engine.connect()
    picked = _pick(client, settings, name, every, "rm")
    if not picked:
        print(f"no containers of {settings.project}; nothing to remove")
        return
    refused = [selection.container_name(c) for c in picked if selection.is_running(c) and not force]
    for container in picked:
        cname = selection.container_name(container)
        if cname in refused:
            continue
        if dry_run:
            print(show(["docker", "rm", *(["--force"] if force else []), cname]))
        else:
            print(f"{engine.remove(client, 'container', container['Id'], force=force)}: container {cname}")
    if refused:
        raise TaskError(f"still running, so not removed: {', '.join(refused)}; "
                        "stop them first (`inv stop --name NAME`) or add --force")


# --- images -------------------------------------------------------------------------------------

def _users(client) -> dict[str, list[str]]:
    """Image id -> names of the containers (anyone's) created from it."""
    users: dict[str, list[str]] = {}
    for container in _all_containers(client):
        users.setdefault(container.get("ImageID", ""), []).append(selection.container_name(container))
    return users


def _remove_image(client, image: dict, image_name: str, force: bool, dry_run: bool = False) -> list[str]:
    """Remove an image as selection.removal_references says, or, in a dry run, show the command."""
    references = selection.removal_references(image, image_name)
    if dry_run:
        report = [show(["docker", "rmi", *(["--force"] if force else []), *references])] if references else []
    else:
        report = [f"{engine.remove(client, 'image', ref, force=force)}: "
                  f"{cleanup.describe_image(image) if ref == image['Id'] else ref}" for ref in references]
    others = selection.foreign_tags(image, image_name)
    if others:
        report.append(f"{'# ' if dry_run else ''}kept: image {tables.short_id(image)}, also tagged {', '.join(others)}")
    return report


def rmi(settings: Settings, *, tags: Sequence[str], every: bool, keep: str | None, force: bool, dry_run: bool) -> None:
    """Remove this project's images: the tags named, all of them, or all but the newest `keep` builds."""
    modes = sum([bool(tags), every, keep is not None])
    if modes != 1:
        raise TaskError("say which images: `inv rmi --tag TAG` (repeatable), `inv rmi --all` or `inv rmi --keep N`")
    for tag_name in tags:
        check_tag(tag_name)
    kept_builds = None if keep is None else parse_keep(keep)
    client = engine.connect()
    if tags:
        references = [f"{settings.image_name}:{t}" for t in tags]
        targets = [(ref, engine.owned_image(client, settings.project, ref)) for ref in references]
    else:
        images = _images(client, settings)
        chosen = images if every else selection.superseded(images, settings.image_name, kept_builds)
        targets = [(None, image) for image in chosen]
    if not targets:
        print(f"no images of {settings.project} to remove")
        return
    users = _users(client)
    before = 0 if dry_run else engine.layers_size(client)
    refused = []
    for reference, image in targets:
        shown = reference or cleanup.describe_image(image)
        in_use = users.get(image["Id"], [])
        if in_use and not force:
            refused.append(f"{shown} (used by {', '.join(in_use)})")
            continue
        if reference:
            print(show(["docker", "rmi", *(["--force"] if force else []), reference]) if dry_run
                  else f"{engine.remove(client, 'image', reference, force=force)}: {reference}")
        else:
            print("\n".join(_remove_image(client, image, settings.image_name, force, dry_run)))
    if not dry_run:
        print(_reclaimed(client, before))
    if refused:
        raise TaskError(f"kept, because containers use them: {'; '.join(refused)}. "
                        "Remove those containers first (`inv rm`), or add --force")


def _reclaimed(client, layers_before: int) -> str:
    """What the removals freed, as `docker system df` counts image layers, and why it may be less
    than the images' sizes."""
    freed = max(0, layers_before - engine.layers_size(client))
    return f"reclaimed {tables.human_size(freed)} of image layers{stores.RECLAIM_NOTE[engine.describe(client).store]}"


# --- clean --------------------------------------------------------------------------------------

def clean(settings: Settings, *, keep: int, every: bool, yes: bool, dry_run: bool,
          interactive: bool, confirm: Callable[[str], str] = input) -> None:
    """Remove stopped containers, dangling and superseded images, and local caches."""
    client = engine.connect()
    found = cleanup.plan(_containers(client, settings), _images(client, settings), settings.root,
                         image_name=settings.image_name, keep=keep, every=every)
    if found.empty:
        print(f"nothing to clean: {settings.project} has no stopped containers, old images or caches")
        return
    if dry_run:
        for container in found.containers:
            cname = selection.container_name(container)
            if selection.is_running(container):
                print(show(["docker", "stop", cname]))
            print(f"docker rm {cname}   # {cleanup.describe_container(container)}")
        for image in found.images:
            print(f"# {cleanup.describe_image(image)}")
            print("\n".join(_remove_image(client, image, settings.image_name, force=False, dry_run=True)))
        for path in found.paths:
            print(show(["rm", "-r", str(path)]))
        print("(dry run: nothing was removed)")
        return
    if every and not yes:
        question = (f"remove {len(found.containers)} container(s), running ones included, and all "
                    f"{len(found.images)} image(s) of {settings.project}? [y/N] ")
        if not interactive:
            raise TaskError("`inv clean --all` stops and removes everything of this project; "
                            "run it in a terminal to confirm, or add --yes")
        if confirm(question).strip().lower() not in {"y", "yes"}:
            print("nothing removed")
            return
    before = engine.layers_size(client)
    for container in found.containers:
        if selection.is_running(container):
            engine.stop_container(client, container["Id"], timeout=10)
        outcome = engine.remove(client, "container", container["Id"])
        print(f"{outcome}: {cleanup.describe_container(container)}")
    for image in found.images:
        for line in _remove_image(client, image, settings.image_name, force=False):
            print(line + (" (kept: a container uses it)" if line.startswith("in use") else ""))
    layers = _reclaimed(client, before)
    caches = 0
    for path in found.paths:
        caches += cleanup.folder_size(path)
        shutil.rmtree(path, ignore_errors=True)
        print(f"removed: {path.relative_to(settings.root)}")
    print(layers + (f", and {tables.human_size(caches)} of local caches" if found.paths else ""))
