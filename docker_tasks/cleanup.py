"""What `inv clean` removes, chosen by pure functions from the engine's summaries and the tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker_tasks.labels import VOLUME
from docker_tasks.selection import container_name, is_running, superseded, tags_of
from docker_tasks.tables import human_size, short_id

# Folders that runs and tests leave behind; .venv is skipped, it is a tool, not a cache.
CACHE_DIRS = ("__pycache__", ".pytest_cache", ".ruff_cache")
SKIPPED_DIRS = {".venv", ".git", "node_modules"}


@dataclass(frozen=True)
class CleanPlan:
    containers: list[dict] = field(default_factory=list)  # GET /containers/json summaries
    images: list[dict] = field(default_factory=list)  # GET /images/json summaries
    paths: list[Path] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)  # engine.volumes: the project's, with their Size

    @property
    def empty(self) -> bool:
        return not (self.containers or self.images or self.paths or self.volumes)


def is_dangling(image: dict) -> bool:
    return not tags_of(image)


def stopped(containers: Iterable[dict]) -> list[dict]:
    return [c for c in containers if not is_running(c)]


def cache_dirs(root: Path) -> list[Path]:
    found: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir()):
            if not child.is_dir() or child.is_symlink() or child.name in SKIPPED_DIRS:
                continue
            if child.name in CACHE_DIRS:
                found.append(child)
            else:
                stack.append(child)
    return sorted(found)


def plan(
    containers: Sequence[dict], images: Sequence[dict], root: Path, *, image_name: str, keep: int, every: bool,
    volumes: Sequence[dict] = (),
) -> CleanPlan:
    """This project's stopped containers, its dangling and superseded images, and the local caches.

    `every` takes running containers, every image and the project's volumes (the model cache,
    Swarm's shards) too; otherwise `latest`, the version tags, the `keep` newest builds and the
    volumes stay.
    """
    if every:
        return CleanPlan(containers=list(containers), images=list(images), paths=cache_dirs(root),
                         volumes=list(volumes))
    tagged = [i for i in images if not is_dangling(i)]
    return CleanPlan(
        containers=stopped(containers),
        images=[i for i in images if is_dangling(i)] + superseded(tagged, image_name, keep),
        paths=cache_dirs(root),
    )


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def describe_container(summary: dict) -> str:
    return f"container {container_name(summary)} ({summary.get('Status', summary.get('State', '?'))})"


def describe_image(summary: dict) -> str:
    tags = tags_of(summary)
    return f"image {short_id(summary)} ({', '.join(tags) if tags else 'dangling'})"


def describe_volume(volume: dict) -> str:
    """`volume app-cache (model cache, 1.2GB)`; the size is unknown (?) when the engine does not say."""
    size = human_size(volume["Size"]) if volume.get("Size", -1) >= 0 else "size unknown"
    purpose = ((volume.get("Labels") or {}).get(VOLUME) or "volume").replace("-", " ")
    return f"volume {volume['Name']} ({purpose}, {size})"
