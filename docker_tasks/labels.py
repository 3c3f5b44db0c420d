"""Ownership labels, stamped on every image and container the tasks create.

Every destructive or listing task selects by `dockertasks.project=<project>`, never by a name
pattern, so a user's other images and containers, even ones named like this project's, are
never touched.
"""

from __future__ import annotations

import re
from datetime import datetime

NAMESPACE = "dockertasks"
PROJECT = f"{NAMESPACE}.project"
GIT_SHA = f"{NAMESPACE}.git.sha"
GIT_DIRTY = f"{NAMESPACE}.git.dirty"
BUILD_TAG = f"{NAMESPACE}.build-tag"
REPRODUCIBLE = f"{NAMESPACE}.reproducible"  # built by `inv build --reproducible`: `inv verify` can check it
IMAGE = f"{NAMESPACE}.image"
PLATFORMS = f"{NAMESPACE}.platforms"  # the platforms a build made, comma-separated (platforms.py)
LOCK = f"{NAMESPACE}.lock"  # the digest of the requirements.lock a build installed (sbom.py)
VOLUME = f"{NAMESPACE}.volume"  # what a volume of the project holds: MODEL_CACHE or SWARM_SHARDS
MODEL_CACHE = "model-cache"
SWARM_SHARDS = "swarm-shards"


def built_dirty(image_labels: dict | None) -> bool:
    """Whether the image was built from uncommitted changes, by its labels."""
    return (image_labels or {}).get(GIT_DIRTY) == "true"


def project_filter(project: str) -> dict[str, list[str]]:
    """The engine-side filter that selects this project's images."""
    return {"label": [f"{PROJECT}={project}"]}


def container_filter(project: str) -> dict[str, list[str]]:
    """This project's containers: those `inv run` created. A container inherits its image's labels,
    so one started from this project's image by hand has the project label but not IMAGE."""
    return {"label": [f"{PROJECT}={project}", IMAGE]}


def for_image(project: str, *, sha: str | None, dirty: bool, build_tag: str) -> dict[str, str]:
    """An image's labels: its project, the commit it was built from (`none` without one), whether
    the tree had uncommitted changes, and its build tag (tags.build_tag)."""
    return {
        PROJECT: project,
        GIT_SHA: sha or "none",
        GIT_DIRTY: str(dirty).lower(),
        BUILD_TAG: build_tag,
    }


def for_volume(project: str, purpose: str) -> dict[str, str]:
    return {PROJECT: project, VOLUME: purpose}


def volume_filter(project: str) -> dict[str, list[str]]:
    """This project's volumes: those the tasks created, each with what it holds."""
    return {"label": [f"{PROJECT}={project}", VOLUME]}


def for_container(project: str, image: str) -> dict[str, str]:
    return {PROJECT: project, IMAGE: image}


def without_credentials(url: str | None) -> str:
    """`https://user:token@host/repo.git` -> `https://host/repo.git`: labels are public."""
    return re.sub(r"(?<=://)[^/@]+@", "", url or "")


def oci_build_args(project: str, *, sha: str | None, describe: str | None, remote_url: str | None,
                   created: datetime) -> dict[str, str]:
    """Build arguments for the Dockerfile's org.opencontainers.image.* labels, from the git state
    (`git describe`, the remote's URL) and the build's date."""
    return {
        "GIT_SHA": sha or "",
        "BUILD_DATE": created.isoformat(timespec="seconds"),
        "VERSION": describe or "",
        "SOURCE_URL": without_credentials(remote_url),
        "TITLE": project,
    }
