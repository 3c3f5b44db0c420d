"""Where BuildKit's cache goes and comes from, beyond this machine: `--cache-to` and `--cache-from`
(pure functions).

A CI runner starts with an empty build cache, so every release would build the requirements
from nothing. An exported cache brings them back: `type=gha` in GitHub Actions, `type=registry`
beside the image, `type=local` in a folder. Which exporters work depends on the image store
(docs.docker.com/build/cache/backends): the engine's own builder exports every type with the
containerd image store, and only `type=inline` (the cache written into the image itself, which
travels with `inv push`) with the classic store. Importing works on both.
"""

from __future__ import annotations

from collections.abc import Mapping

from docker_tasks import stores
from docker_tasks.errors import TaskError

TYPES = ("registry", "local", "gha", "inline", "s3", "azblob")
FORM = ("type=registry,ref=REGISTRY/NAME:cache, type=gha (in GitHub Actions), type=local,dest=FOLDER "
        "(src=FOLDER to read it) or type=inline")


def parse(spec: str, flag: str) -> dict[str, str]:
    """`type=registry,ref=...,mode=max` as a dict; a clear error when it is not that form."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals or not key:
            raise TaskError(f"{flag} {spec!r}: {item!r} is not KEY=VALUE; give {FORM}")
        fields[key] = value
    if fields.get("type") not in TYPES:
        raise TaskError(f"{flag} {spec!r}: give a type, one of {', '.join(TYPES)}: {FORM}")
    return fields


# Exporters that take compression attributes (gha and s3 always write gzip).
COMPRESSING = ("registry", "local")


def export_spec(spec: str) -> str:
    """The --cache-to value BuildKit gets: with mode=max unless told otherwise, so that the stages
    that are not in the image (uv's, the requirements') are exported too, not only the image's layers.

    And with one compression, forced: otherwise BuildKit lists every combination of the compressions
    the engine holds for the image's layers (uncompressed from the build, gzip from a push, zstd):
    for the image's 22 layers that is millions, and the engine (Docker 26) passed 8 GB of memory in
    a minute. Forced, it lists one; a layer that has its gzip blob already is not compressed again."""
    fields = parse(spec, "--cache-to")
    if fields["type"] != "inline":
        fields.setdefault("mode", "max")
    if fields["type"] in COMPRESSING:
        fields.setdefault("compression", "gzip")
        fields.setdefault("force-compression", "true")
    return ",".join(f"{key}={value}" for key, value in fields.items())


def problem(cache_from: str | None, cache_to: str | None, store: str | None,
            environ: Mapping[str, str]) -> str | None:
    """Why these settings cannot work here, in one line with what to do; None when they can.
    `store` is None when it is not known (a dry run)."""
    specs = {"--cache-from": cache_from, "--cache-to": cache_to}
    for flag, spec in specs.items():
        fields = parse(spec, flag) if spec else {}
        # BuildKit's gha cache reaches GitHub's cache service with this token, unless given one.
        if fields.get("type") == "gha" and "token" not in fields and not environ.get("ACTIONS_RUNTIME_TOKEN"):
            return (f"{flag} type=gha reads GitHub Actions' cache, and ACTIONS_RUNTIME_TOKEN is not set: it is "
                    "set inside a workflow by crazy-max/ghaction-github-runtime (.github/workflows/ci.yml); "
                    "elsewhere use type=registry or type=local")
    if cache_to and store == stores.CLASSIC and parse(cache_to, "--cache-to")["type"] != "inline":
        return (f"--cache-to {cache_to}: with the classic image store, the engine's builder exports only "
                "type=inline, the cache written into the image (it travels with `inv push`; read it back with "
                "--cache-from type=registry,ref=THE_PUSHED_IMAGE); or switch the engine to the containerd image "
                "store (docs.docker.com/engine/storage/containerd), which exports every type")
    return None
