"""Which of this project's containers and images a lifecycle task acts on (pure functions).

The summaries come from the engine already filtered by this project's labels; the functions
here pick from them, and say clearly when a name is unknown or is not this project's.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Sequence

from docker_tasks import labels
from docker_tasks.errors import TaskError
from docker_tasks.tags import check_tag


def owned_image(image: dict | None, project: str, reference: str) -> dict:
    """The image's details (engine.inspect), if this project's tasks built it; else a one-line
    error, and it is left alone."""
    if image is None:
        raise TaskError(f"no image {reference}; `inv images` lists {project}'s images, `inv build` makes one")
    if (image["Config"].get("Labels") or {}).get(labels.PROJECT) != project:
        raise TaskError(f"{reference} was not built by this project's tasks (it has no {labels.PROJECT} label), "
                        "so the tasks leave it alone")
    return image


def container_name(summary: dict) -> str:
    return (summary.get("Names") or ["/?"])[0].lstrip("/")


def is_running(summary: dict) -> bool:
    return summary.get("State") in {"running", "restarting", "paused"}


def pick_containers(
    ours: Sequence[dict], *, name: str | None, every: bool, all_names: Iterable[str], project: str, task: str
) -> list[dict]:
    """`--name NAME` or `--all`: the named container, which must be ours, or all of ours."""
    if name and every:
        raise TaskError(f"give either --name or --all to `inv {task}`, not both")
    if every:
        return list(ours)
    if not name:
        raise TaskError(f"which container? `inv {task} --name NAME` (see `inv ps`), or `inv {task} --all`")
    matches = [c for c in ours if container_name(c) == name or c["Id"].startswith(name)]
    if matches:
        return matches[:1]
    if name in set(all_names):
        raise TaskError(f"container {name} was not started by this project's tasks, so `inv {task}` leaves it alone")
    raise TaskError(f"no container named {name}; `inv ps` lists {project}'s containers")


def newest(containers: Sequence[dict]) -> dict | None:
    return max(containers, key=lambda c: c.get("Created", 0), default=None)


def parse_signal(value: str) -> str:
    """`KILL`, `SIGKILL` or `9` -> `SIGKILL`, checked against the signals Linux knows."""
    text = value.strip().upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text)).name
        except ValueError:
            pass
    else:
        name = text if text.startswith("SIG") else f"SIG{text}"
        if name in signal.Signals.__members__:
            return name
    raise TaskError(f"--signal {value!r} is not a signal; use a name or number, e.g. --signal TERM or --signal 9")


def repo_tags(image: dict, image_name: str) -> list[str]:
    """The image's tags under this project's repository, e.g. ['abc123', 'latest', '2.0']."""
    tags = []
    for reference in image.get("RepoTags") or []:
        repository, _, tag = reference.rpartition(":")
        if repository == image_name:
            tags.append(tag)
    return tags


def tags_of(image: dict) -> list[str]:
    """An image's `name:tag` references; the engine lists an untagged image's as `<none>:<none>`."""
    return [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]


def removal_references(image: dict, image_name: str) -> list[str]:
    """What removing a project image untags: its tags under this project's name (the last one takes
    the image with it), or its id when it has no tag at all. Tags under other names are left alone."""
    if not tags_of(image):
        return [image["Id"]]
    return [f"{image_name}:{tag}" for tag in repo_tags(image, image_name)]


def foreign_tags(image: dict, image_name: str) -> list[str]:
    """The image's tags under other names than this project's, which its removal leaves in place."""
    return [t for t in tags_of(image) if t.rpartition(":")[0] != image_name]


def version_tags(image: dict, image_name: str) -> list[str]:
    """Tags that are neither the image's own build tag nor `latest`: versions and extra tags."""
    build = (image.get("Labels") or {}).get(labels.BUILD_TAG)
    return [t for t in repo_tags(image, image_name) if t not in {build, "latest"}]


def superseded(images: Sequence[dict], image_name: str, keep: int) -> list[dict]:
    """Images past the `keep` newest builds, except `latest` and any image with a version tag.

    A build is an image under this project's name: its copies named for a registry by `inv push`,
    and the SBOMs pushed beside them, are no builds, so they neither count towards `keep` nor go."""
    builds = [image for image in images if repo_tags(image, image_name)]
    ordered = sorted(builds, key=lambda i: i.get("Created", 0), reverse=True)
    return [
        image for position, image in enumerate(ordered)
        if position >= keep
        and "latest" not in repo_tags(image, image_name)
        and not version_tags(image, image_name)
    ]


def check_version(version: str) -> str:
    check_tag(version, "version")
    if version == "latest":
        raise TaskError("`latest` moves with every build, so it cannot be a version; pick one such as 2.0")
    return version


def git_tag_name(version: str) -> str:
    return version if version.startswith("v") else f"v{version}"
