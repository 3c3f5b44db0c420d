"""Platforms (`linux/amd64`, `linux/arm64`): which an image is built for, holds, and must hold (pure functions).

A multi-platform image is one index of one image per platform. Only the containerd image store
can keep one; the classic store keeps one platform per tag. Docker 26's API describes only the
platform an image would run here, so a build records the platforms it made in a label of the
image (labels.PLATFORMS), the same in each platform's image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docker_tasks import labels
from docker_tasks.errors import TaskError

FORM = "os/architecture[/variant], e.g. linux/amd64 or linux/arm64; several separated by commas"
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
# Variants that name the architecture's only or default one: linux/arm64 and linux/arm64/v8 are one platform.
_DEFAULT_VARIANTS = {"arm64": "v8", "amd64": "v1"}


def parse(text: str, source: str = "--platform") -> list[str]:
    """The platforms `text` lists, in order and without repeats; a clear error for a malformed one."""
    found: list[str] = []
    for item in text.split(","):
        platform = item.strip().lower()
        if not _PLATFORM.match(platform):
            raise TaskError(f"{source} {text!r}: {item.strip()!r} is not a platform; give {FORM}")
        if canonical(platform) not in map(canonical, found):
            found.append(platform)
    return found


def canonical(platform: str) -> str:
    """`linux/arm64/v8` -> `linux/arm64`: the default variant is left out, as BuildKit does."""
    parts = platform.split("/")
    if len(parts) == 3 and _DEFAULT_VARIANTS.get(parts[1]) == parts[2]:
        parts = parts[:2]
    return "/".join(parts)


def of_config(image: dict) -> str:
    """`linux/amd64`, or `linux/arm/v7`, from an image's inspect data: the platform it runs here."""
    parts = [image.get("Os", "linux"), image.get("Architecture", "amd64"), image.get("Variant")]
    return canonical("/".join(p for p in parts if p))


def held(image: dict) -> list[str]:
    """The platforms an image holds: those its build recorded, else the one its config names."""
    recorded = ((image.get("Config") or {}).get("Labels") or image.get("Labels") or {}).get(labels.PLATFORMS)
    return [canonical(p) for p in recorded.split(",")] if recorded else [of_config(image)]


def recorded(image_labels: dict) -> list[str]:
    """The platforms as the build was given them, for a rebuild that must give the same label."""
    text = image_labels.get(labels.PLATFORMS)
    return text.split(",") if text else []


def missing(image: dict, wanted: Sequence[str]) -> list[str]:
    """The platforms of `wanted` that the image does not hold."""
    have = set(held(image))
    return [p for p in wanted if canonical(p) not in have]


def lacking_message(reference: str, image: dict, wanted: Sequence[str], setting: str) -> str | None:
    """Why `reference` cannot serve `wanted` (from `setting`), or None when it holds every one."""
    absent = missing(image, wanted)
    if not absent:
        return None
    return (f"{reference} holds {', '.join(held(image))}, not {', '.join(absent)}, which {setting} asks for: it "
            f"would fail there with 'exec format error'. Build it with `inv build --platform {','.join(wanted)}`")


def multi_platform_refusal(platforms: Sequence[str]) -> str:
    """The classic image store keeps one platform per image: say so, and how to go on."""
    return (f"{', '.join(platforms)} make a multi-platform image, and the classic image store keeps one platform per "
            f"image; build one at a time (`inv build --platform {platforms[0]}`), or switch the engine to the "
            "containerd image store (docs.docker.com/engine/storage/containerd)")
