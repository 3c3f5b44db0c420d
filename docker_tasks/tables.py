"""Plain-text tables for the listing tasks, from the engine's summaries (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from docker_tasks import labels, platforms, stores
from docker_tasks.selection import tags_of


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


def short_tags(repo_tags: Sequence[str], image_name: str) -> list[str]:
    """`app-name:1.0` shows as `1.0`; a tag under another name (a registry's) stays whole."""
    shown = []
    for reference in repo_tags:
        repository, _, tag = reference.rpartition(":")
        shown.append(tag if repository == image_name else reference)
    return shown


def image_headers(store: str) -> tuple[str, ...]:
    """The containerd store also keeps each image's layers as archives, which the classic one does not."""
    sizes = ("UNPACKED", "STORED", "PUSHED") if store == stores.CONTAINERD else ("UNPACKED", "PUSHED")
    return ("BUILD", "VERSIONS", "IMAGE ID", "PLATFORMS", *sizes, "CREATED", "REVISION", "DIRTY")


def image_sizes(image: dict, store: str, pushed: Mapping[str, int | None]) -> tuple[str, ...]:
    """UNPACKED, STORED on the containerd store, and PUSHED: `-` never pushed, `?` pushed by an
    older machinery, which did not record the size."""
    listed, inspected = image.get("Size", 0), image.get("InspectedSize", 0)
    unpacked = human_size(stores.unpacked_size(listed, inspected, store))
    size = pushed.get(image["Id"], "-")
    shown_pushed = size if size == "-" else "?" if size is None else human_size(size)
    if store == stores.CONTAINERD:
        return unpacked, human_size(inspected), shown_pushed
    return unpacked, shown_pushed


def pushed_sizes(pushes: Sequence[dict]) -> dict[str, int | None]:
    """Each pushed image's compressed size in the registry, as its latest push recorded it, by the
    image id of the build and by the pushed digest, which is the id of the copy `inv push` named for
    the registry on the containerd store."""
    sizes: dict[str, int | None] = {}
    for push in pushes:
        for key in (push.get("image_id"), push.get("digest")):
            if key:
                sizes[key] = push.get("pushed_bytes")
    return sizes


def image_rows(summaries: Sequence[dict], now: datetime, image_name: str,
               store: str = stores.CLASSIC, pushed: Mapping[str, int | None] | None = None) -> list[tuple[str, ...]]:
    """One row an image, newest first, from stores.image_summary's summaries: its build tag, then `latest`,
    version tags and tags under other names (a registry's), and its sizes as image_headers names them
    (`pushed`: pushed_sizes)."""
    rows = []
    for image in sorted(summaries, key=lambda i: i.get("Created", 0), reverse=True):
        image_labels = image.get("Labels") or {}
        build = image_labels.get(labels.BUILD_TAG, "")
        tags = short_tags(tags_of(image), image_name)
        created = datetime.fromtimestamp(image.get("Created", 0), tz=UTC)
        rows.append((
            build if build in tags else "-" if tags else "<untagged>",  # "-": only a registry's names
            ", ".join(t for t in tags if t != build) or "-",
            short_id(image),
            ", ".join(p.removeprefix("linux/") for p in platforms.held(image)),
            *image_sizes(image, store, pushed or {}),
            human_age(created, now),
            image_labels.get(labels.GIT_SHA, "?")[:12],
            "yes" if labels.built_dirty(image_labels) else "no",
        ))
    return rows


CONTAINER_HEADERS = ("NAME", "STATUS", "IMAGE", "PORTS", "CREATED")


def published_ports(ports: Sequence[dict]) -> str:
    """As `docker ps` shows them: `0.0.0.0:8080->8000/tcp, [::]:8080->8000/tcp`."""
    shown = []
    for port in ports:
        if port.get("PublicPort"):
            ip = port.get("IP", "")
            host = f"[{ip}]" if ":" in ip else ip
            shown.append(f"{host}:{port['PublicPort']}->{port['PrivatePort']}/{port.get('Type', 'tcp')}".lstrip(":"))
    return ", ".join(shown) or "-"


def container_rows(summaries: Sequence[dict], now: datetime, image_name: str) -> list[tuple[str, ...]]:
    """One row a container, newest first, from `GET /containers/json` summaries."""
    rows = []
    for container in sorted(summaries, key=lambda c: c.get("Created", 0), reverse=True):
        image = (container.get("Labels") or {}).get(labels.IMAGE) or container.get("Image", "?")
        repository, _, tag = image.rpartition(":")
        rows.append((
            (container.get("Names") or ["/?"])[0].lstrip("/"),
            container.get("Status", container.get("State", "?")),
            tag if repository == image_name else image,
            published_ports(container.get("Ports") or []),
            human_age(datetime.fromtimestamp(container.get("Created", 0), tz=UTC), now),
        ))
    return rows


def pushed_lines(pushes: Sequence[dict], image_ids: Sequence[str]) -> list[str]:
    """The recorded pushes of the images listed, newest first: `id  reference@digest  (tag, when,
    what came with it)`, and beneath, where its SBOM is."""
    wanted = set(image_ids)
    lines = []
    for push in reversed(pushes):
        if push.get("image_id") not in wanted:
            continue
        repository, _, tag = push["reference"].rpartition(":")
        extras = ", with provenance" if push.get("provenance") else ""
        if push.get("pushed_bytes") is not None:
            extras += f", sent {human_size(push['sent_bytes'])} of {human_size(push['pushed_bytes'])}"
        lines.append(f"  {push['image_id'].removeprefix('sha256:')[:12]}  {repository}@{push['digest']}  "
                     f"({tag}, {push['pushed_at']}{extras})")
        if push.get("sbom"):
            lines.append(f"                SBOM: {push['sbom']}")
    return lines


RUN_HEADERS = ("STARTED", "CONTAINER", "IMAGE", "COMMIT", "EXIT", "SECONDS", "INPUTS", "ARGUMENTS")


def run_rows(records: Sequence[dict]) -> list[tuple[str, ...]]:
    """One row a run record (records.py), in the order given."""
    table = []
    for record in records:
        image = record.get("image") or {}
        started, ended = record.get("started_at"), record.get("ended_at")
        seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds() if ended else None
        exit_code = record.get("exit_code")
        table.append((
            (started or "?")[:19].replace("T", " "),
            record.get("container", "?"),
            image.get("reference", "?"),
            (image.get("git_sha") or "?")[:12] + ("-dirty" if image.get("git_dirty") else ""),
            str(exit_code) if exit_code is not None else "detached" if record.get("detached") else "unknown",
            f"{seconds:.1f}" if seconds is not None else "-",
            human_size(sum(i.get("bytes", 0) for i in record.get("inputs") or [])),
            " ".join(record.get("arguments") or []) or "-",
        ))
    return table
