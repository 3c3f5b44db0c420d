"""Image names and tags: Docker's grammar, and the tags a build gets from the git state."""

from __future__ import annotations

import re
from datetime import datetime

from docker_tasks.errors import TaskError

# Docker's reference grammar (distribution/reference), without IPv6 registry hosts.
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_REGISTRY_HOST = re.compile(
    r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
    r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?$"
)

TAG_RULES = (
    "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', "
    "and does not start with '.' or '-' (e.g. 2.0, 2.0.1-rc1, v3)"
)
NAME_RULES = (
    "an image name is lowercase path components of letters and digits separated by '.', '_' "
    "or '-', joined by '/', optionally after a registry host "
    "(e.g. app-name, registry.example.com/team/app-name)"
)


def check_tag(tag: str, what: str = "tag") -> str:
    if not TAG_PATTERN.match(tag):
        raise TaskError(f"{what} {tag!r} is not a valid Docker tag: {TAG_RULES}")
    return tag


def registry_host(name: str) -> str | None:
    """The registry host a repository name starts with, as Docker reads it, or None (Docker Hub)."""
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def check_image_name(name: str) -> str:
    """Validate a repository name (no tag), such as `registry.example.com:5000/team/app-name`."""
    parts = name.split("/")
    has_host = registry_host(name) is not None
    if has_host and not _REGISTRY_HOST.match(parts[0]):
        raise TaskError(f"image name {name!r} has an invalid registry host {parts[0]!r}: {NAME_RULES}")
    path = parts[1:] if has_host else parts
    if not name or len(name) > 255 or not all(PATH_COMPONENT.match(p) for p in path):
        raise TaskError(f"image name {name!r} is not valid: {NAME_RULES}")
    return name


def check_project_name(name: str) -> str:
    """A project's name: one lowercase component of an image name, such as `my-model`."""
    if not PATH_COMPONENT.match(name):
        raise TaskError(f"--name {name!r}: use lowercase letters and digits, separated by '-', '_' or '.', "
                        "e.g. my-model")
    return name


def split_reference(reference: str) -> tuple[str, str | None]:
    """`host:5000/app:1.0` -> ('host:5000/app', '1.0'); a digest or a bare name gives no tag."""
    if "@" in reference:
        return reference.split("@", 1)[0], None
    name, sep, tag = reference.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return reference, None


def build_tag(short_sha: str | None, dirty_digest: str | None, now: datetime) -> str:
    """The tag that names this build: the commit's short SHA; with uncommitted changes, that and
    their digest (git_state.dirty_digest); without a commit (None), a dated fallback."""
    if short_sha is None:
        return f"no-git-{now:%Y%m%d%H%M%S}"
    if dirty_digest:
        return f"{short_sha}-dirty-{dirty_digest}"
    return short_sha


def tags_for_build(image_name: str, own_tag: str, extra: list[str] = ()) -> list[str]:
    """Full references for a build: its own tag (build_tag), `latest`, and any extra tags asked for."""
    check_image_name(image_name)
    names = [own_tag, "latest", *(check_tag(t) for t in extra)]
    return [f"{image_name}:{t}" for t in dict.fromkeys(names)]
