"""Plain-text tables for the listing tasks, from the engine's summaries (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from docker_tasks import labels


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_age(created: datetime, now: datetime) -> str:
    seconds = max(0, int((now - created).total_seconds()))
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length}{unit} ago"
    return f"{seconds}s ago"


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip() for line in lines)


def short_id(summary: dict) -> str:
    return summary["Id"].removeprefix("sha256:")[:12]


IMAGE_HEADERS = ("TAGS", "IMAGE ID", "SIZE", "CREATED", "REVISION", "DIRTY")


def short_tags(repo_tags: Sequence[str], image_name: str) -> list[str]:
    """`app-name:1.0` shows as `1.0`; a tag under another name (a registry's) stays whole."""
    shown = []
    for reference in repo_tags:
        repository, _, tag = reference.rpartition(":")
        if reference != "<none>:<none>":
            shown.append(tag if repository == image_name else reference)
    return shown


def image_rows(summaries: Sequence[dict], now: datetime, image_name: str) -> list[tuple[str, ...]]:
    """One row an image, newest first, from `GET /images/json` summaries."""
    rows = []
    for image in sorted(summaries, key=lambda i: i.get("Created", 0), reverse=True):
        image_labels = image.get("Labels") or {}
        tags = short_tags(image.get("RepoTags") or [], image_name)
        created = datetime.fromtimestamp(image.get("Created", 0), tz=UTC)
        rows.append((
            ", ".join(tags) or "<none>",
            short_id(image),
            human_size(image.get("Size", 0)),
            human_age(created, now),
            image_labels.get(labels.GIT_SHA, "?")[:12],
            "yes" if image_labels.get(labels.GIT_DIRTY) == "true" else "no",
        ))
    return rows
