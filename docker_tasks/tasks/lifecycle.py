"""The lifecycle tasks: this project's containers and images, and the clean-up.

Everything is selected by the ownership labels (labels.py), never by a name pattern. Destructive
steps take `dry_run`, treat an empty selection as a no-op, and take "already gone" in their stride.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from docker_tasks import cleanup, labels, selection, stores, tables
from docker_tasks.commands import Step, carry_out, remark, show
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine
from docker_tasks.settings import Settings, parse_keep
from docker_tasks.tags import check_tag


def _now() -> datetime:
    return datetime.now(UTC)


def _containers(client, settings: Settings) -> list[dict]:
    return engine.containers(client, labels.container_filter(settings.project))


def _all_containers(client) -> list[dict]:
    return engine.containers(client)


def _images(client, settings: Settings) -> list[dict]:
    return [stores.image_summary(*found)
            for found in engine.images_inspected(client, labels.project_filter(settings.project))]


def _pick(client, settings: Settings, name: str | None, every: bool, task: str) -> list[dict]:
    return selection.pick_containers(
        _containers(client, settings), name=name, every=every, project=settings.project, task=task,
        all_names=(selection.container_name(c) for c in _all_containers(client)),
    )


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
    try:
        for chunk in engine.stream_logs(client, container["Id"], follow=follow, tail=tail):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        print(f"\nstopped following {cname}; it keeps running", file=sys.stderr)


def _act_on_running(settings: Settings, *, name: str | None, every: bool, dry_run: bool, task: str,
                    step: Callable[[object, dict], Step]) -> None:
    """Shared by stop and kill: pick, skip what is not running, act, report each container."""
    client = engine.connect()
    picked = _pick(client, settings, name, every, task)
    running = [c for c in picked if selection.is_running(c)]
    for container in picked:
        if not selection.is_running(container):
            print(remark(f"{cleanup.describe_container(container)} is not running; nothing to do", dry_run=dry_run))
    if not running and every:
        print(remark(f"no running containers of {settings.project}; nothing to {task}", dry_run=dry_run))
    carry_out([step(client, container) for container in running], dry_run=dry_run)


def stop(settings: Settings, *, name: str | None, every: bool, timeout: int, dry_run: bool) -> None:
    """Stop gracefully: SIGTERM, then SIGKILL after `timeout` seconds."""
    if timeout < 0:
        raise TaskError(f"--timeout {timeout}: give the seconds to wait before SIGKILL, 0 or more")

    _act_on_running(settings, name=name, every=every, dry_run=dry_run, task="stop",
                    step=lambda client, container: _container_stop(client, container, timeout))


def _stopped(client, container: dict, timeout: int) -> str:
    started = time.monotonic()
    code = engine.stop_container(client, container["Id"], timeout)
    if code is None:
        return f"{selection.container_name(container)} is already gone"
    return f"stopped {selection.container_name(container)} in {time.monotonic() - started:.1f}s (exit code {code})"


def _container_stop(client, container: dict, timeout: int) -> Step:
    return Step(["docker", "stop", "--time", str(timeout), selection.container_name(container)],
                functools.partial(_stopped, client, container, timeout))


def kill(settings: Settings, *, name: str | None, every: bool, signal: str, dry_run: bool) -> None:
    """Send a signal (SIGKILL by default) to running containers."""
    signame = selection.parse_signal(signal)

    def kill_step(client, container: dict) -> Step:
        def act() -> str:
            engine.kill(client, container["Id"], signame)
            return f"sent {signame} to {selection.container_name(container)}"

        return Step(["docker", "kill", "--signal", signame, selection.container_name(container)], act)

    _act_on_running(settings, name=name, every=every, dry_run=dry_run, task="kill", step=kill_step)


def rm(settings: Settings, *, name: str | None, every: bool, force: bool, dry_run: bool) -> None:
    """Remove containers; a running one only with --force."""
    client = engine.connect()
    picked = _pick(client, settings, name, every, "rm")
    if not picked:
        print(f"no containers of {settings.project}; nothing to remove")
        return
    refused = [selection.container_name(c) for c in picked if selection.is_running(c) and not force]
    carry_out([_container_removal(client, c, force) for c in picked if selection.container_name(c) not in refused],
              dry_run=dry_run)
    if refused:
        raise TaskError(f"still running, so not removed: {', '.join(refused)}; "
                        "stop them first (`inv stop --name NAME`) or add --force")


def _container_removal(client, container: dict, force: bool) -> Step:
    cname = selection.container_name(container)
    shown = cleanup.describe_container(container)
    return Step(["docker", "rm", *(["--force"] if force else []), cname],
                lambda: f"{engine.remove(client, 'container', container['Id'], force=force)}: {shown}", shown)


# --- images -------------------------------------------------------------------------------------

def _users(client) -> dict[str, list[str]]:
    """Image id -> names of the containers (anyone's) created from it."""
    users: dict[str, list[str]] = {}
    for container in _all_containers(client):
        users.setdefault(container.get("ImageID", ""), []).append(selection.container_name(container))
    return users


def _image_removal(client, reference: str, force: bool, shown: str | None = None, note: str = "") -> Step:
    """Untag `reference`, or remove the image it names when it is the last tag or the id."""
    def act() -> str:
        outcome = engine.remove(client, "image", reference, force=force)
        return f"{outcome}: {shown or reference}" + (" (kept: a container uses it)" if outcome == "in use" else "")

    return Step(["docker", "rmi", *(["--force"] if force else []), reference], act, note)


def _remove_image(client, image: dict, image_name: str, force: bool, dry_run: bool) -> None:
    """Remove an image as selection.removal_references says; say which of its tags stay."""
    shown = cleanup.describe_image(image)
    carry_out([_image_removal(client, ref, force, shown if ref == image["Id"] else None, shown)
               for ref in selection.removal_references(image, image_name)], dry_run=dry_run)
    others = selection.foreign_tags(image, image_name)
    if others:
        print(remark(f"kept: image {tables.short_id(image)}, also tagged {', '.join(others)}", dry_run=dry_run))


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
        targets = [(ref, selection.owned_image(engine.inspect(client, "image", ref), settings.project, ref))
                   for ref in references]
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
            carry_out([_image_removal(client, reference, force)], dry_run=dry_run)
        else:
            _remove_image(client, image, settings.image_name, force, dry_run)
    if not dry_run:
        print(_reclaimed(client, before))
    if refused:
        raise TaskError(f"kept, because containers use them: {'; '.join(refused)}. "
                        "Remove those containers first (`inv rm`), or add --force")


def _reclaimed(client, layers_before: int) -> str:
    """What the removals freed, as `docker system df` counts image layers, and why it may be less
    than the images' sizes."""
    freed = max(0, layers_before - engine.layers_size(client))
    note = stores.RECLAIM_NOTE[stores.image_store(engine.info(client))]
    return f"reclaimed {tables.human_size(freed)} of image layers{note}"


# --- clean --------------------------------------------------------------------------------------

def clean(settings: Settings, *, keep: int, every: bool, yes: bool, dry_run: bool,
          interactive: bool, confirm: Callable[[str], str] = input) -> None:
    """Remove stopped containers, dangling and superseded images, and local caches."""
    client = engine.connect()
    volumes = engine.volumes(client, labels.volume_filter(settings.project)) if every else []
    found = cleanup.plan(_containers(client, settings), _images(client, settings), settings.root,
                         image_name=settings.image_name, keep=keep, every=every, volumes=volumes)
    if found.empty:
        print(f"nothing to clean: {settings.project} has no stopped containers, old images or caches")
        return
    if every and not yes and not dry_run:
        held = "".join(f", {cleanup.describe_volume(volume)}" for volume in found.volumes)
        question = (f"remove {len(found.containers)} container(s), running ones included, all "
                    f"{len(found.images)} image(s){held} of {settings.project}? [y/N] ")
        if not interactive:
            raise TaskError("`inv clean --all` stops and removes everything of this project; "
                            "run it in a terminal to confirm, or add --yes")
        if confirm(question).strip().lower() not in {"y", "yes"}:
            print("nothing removed")
            return
    before = 0 if dry_run else engine.layers_size(client)
    steps = []
    for container in found.containers:
        if selection.is_running(container):
            steps.append(_container_stop(client, container, timeout=10))
        steps.append(_container_removal(client, container, force=False))
    carry_out(steps, dry_run=dry_run)
    for image in found.images:
        _remove_image(client, image, settings.image_name, force=False, dry_run=dry_run)
    carry_out([_volume_removal(client, volume) for volume in found.volumes], dry_run=dry_run)
    layers = "" if dry_run else _reclaimed(client, before)
    caches = 0 if dry_run else sum(cleanup.folder_size(path) for path in found.paths)  # before they go
    carry_out([Step(["rm", "-r", str(path)], functools.partial(_remove_folder, path, settings.root))
               for path in found.paths], dry_run=dry_run)
    if dry_run:
        print("# (dry run: nothing was removed)")
    else:
        print(layers + (f", and {tables.human_size(caches)} of local caches" if found.paths else ""))


def _volume_removal(client, volume: dict) -> Step:
    shown = cleanup.describe_volume(volume)

    def act() -> str:
        outcome = engine.remove(client, "volume", volume["Name"])
        if outcome == "in use":
            return f"kept {shown}: a container still mounts it (one of Swarm's, which it removes in a while)"
        return f"removed: {shown}" if outcome == "removed" else f"{shown} is already gone"

    return Step(["docker", "volume", "rm", volume["Name"]], act, note=shown)


def _remove_folder(path, root) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return f"removed: {path.relative_to(root)}"
