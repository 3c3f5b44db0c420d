"""A release's own tasks: `inv tag` gives an image its version (and its commit a git tag), and
`inv verify` rebuilds the current commit from nothing and says whether it is the image it was.

A release is built with `inv build --reproducible` (building.py), checked, tagged, and pushed
with its provenance and its SBOM by `inv push` (shipping.py); docs/releases.md shows the steps.
The rebuild of `inv verify` gets a tag of its own, removed at the end, so no tag of yours moves.
Two images with the same id are the same; otherwise both are saved and image_archive names
where they differ.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import build_secrets, commands, image_archive, labels, selection, tables
from docker_tasks.commands import Step, carry_out, remark
from docker_tasks.envfiles import parse_assignment
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine, git_state
from docker_tasks.settings import Settings
from docker_tasks.tags import build_tag
from docker_tasks.tasks.building import (
    build_command,
    build_failure,
    require_commit,
    require_lock,
    target_platforms,
)

# --- inv tag: a version ---------------------------------------------------------------------------

def tag(settings: Settings, *, version: str, source: str | None, allow_dirty: bool, force: bool,
        git_tag: bool, dry_run: bool) -> None:
    """Give an image of this project a version tag, and optionally its commit a git tag."""
    selection.check_version(version)
    if source is None:
        git = git_state.read(settings.root)
        if git.sha is None:
            raise TaskError(f"{git.problem}, so there is no current commit to version; name an image with --source TAG")
        source = build_tag(git.short_sha, git.dirty_digest, datetime.now(UTC))
    client = engine.connect()
    source_ref, target_ref = f"{settings.image_name}:{source}", f"{settings.image_name}:{version}"
    image = selection.owned_image(engine.inspect(client, "image", source_ref), settings.project, source_ref)
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
    steps = []
    if existing and existing["Id"] == image["Id"]:
        print(remark(f"{target_ref} already names {source_ref}; nothing to change", dry_run=dry_run))
    else:
        def retag() -> str:
            engine.tag_image(client, image["Id"], settings.image_name, version)
            return f"tagged {source_ref} as {target_ref}"

        steps.append(Step(["docker", "tag", source_ref, target_ref], retag))
    if git_tag:
        message = f"{settings.project} {version} ({target_ref})"

        def create_git_tag() -> str:
            git_state.create_tag(settings.root, git_name, sha, message, force=force)
            return f"created git tag {git_name} at {sha[:12]}; share it with `git push origin {git_name}`"

        steps.append(Step(["git", "tag", "--annotate", *(["--force"] if force else []), git_name, sha,
                           "--message", message], create_git_tag))
    carry_out(steps, dry_run=dry_run)


# --- inv verify: the same image again? -----------------------------------------------------------

def verify(settings: Settings, *, build_args: Sequence[str] = (), secret_specs: Sequence[str] = (),
           platform: str | None = None, environ: Mapping[str, str], dry_run: bool = False) -> None:
    given_secrets = build_secrets.parse_all(secret_specs, Path.cwd())
    secret_values = build_secrets.values_for(given_secrets, environ, settings.dotenv)
    git = git_state.read(settings.root)
    require_commit(git, "inv verify")
    require_lock(settings)
    tag = f"{settings.image_name}:{git.short_sha}"
    rebuild = f"{settings.image_name}:verify-{git.short_sha}-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="commit-") as folder:
        argv = build_command(
            settings, git, [rebuild], created=git.commit_time, own_tag=git.short_sha,
            platforms=target_platforms(platform, settings),
            build_args=dict(parse_assignment(a, environ, flag="--build-arg") for a in build_args),
            no_cache=True, reproducible=True, context=Path(folder), secrets=given_secrets,
        )
        if dry_run:
            print(commands.show(argv))
            return
        client = engine.connect()
        image = engine.inspect(client, "image", tag)
        if image is None:
            raise TaskError(f"there is no image of this commit ({tag}) to compare with; "
                            "build it with `inv build --reproducible`, then run `inv verify`")
        if (image.get("Config", {}).get("Labels") or {}).get(labels.REPRODUCIBLE) != "true":
            raise TaskError(f"{tag} was built without --reproducible, so its files carry the times of its build and "
                            "no rebuild can match it; build it with `inv build --reproducible`, then run `inv verify`")
        print(f"rebuilding {git.short_sha} without BuildKit's cache, to compare with {tag}")
        git_state.export_commit(settings.root, git.sha, Path(folder))
        try:
            status, tail = engine.run_process(argv, keep=80, env=secret_values)
            if status != 0:
                raise TaskError(f"the rebuild failed{build_failure(tail)}, so nothing was compared; the failing "
                                "step's output is above")
            rebuilt = engine.inspect(client, "image", rebuild)
            difference = None if rebuilt["Id"] == image["Id"] else differences(client, tag, rebuild, Path(folder))
        finally:
            engine.untag(client, rebuild)
    if difference:
        cause = (SETTINGS_CAUSE if difference.startswith(SETTINGS_ONLY) else
                 "That step depends on something other than the commit (a time, a download, the machine)")
        raise TaskError(f"no: the rebuild of {git.short_sha} differs from {tag}, {difference}. {cause}; "
                        "docs/reproducible-builds.md, \"What still moves\", lists the usual causes")
    print(f"✓ yes: rebuilt without cache, {git.short_sha} gives exactly {tag} ({image['Id'][:19]}…): the same "
          "layers, files and settings")


SETTINGS_ONLY = "not in its files but in its settings"
SETTINGS_CAUSE = ("Was the image built with other settings (BASE_IMAGE, --platform, --build-arg) than this check "
                  "was given?")


def differences(client, image: str, rebuild: str, folder: Path) -> str | None:
    """Where two images first differ, from `docker save` of each, written into `folder`."""
    ours, theirs = folder / "image.tar", folder / "rebuilt.tar"
    engine.save_image(client, image, ours)
    engine.save_image(client, rebuild, theirs)
    return compare(ours, theirs)


def compare(image_path: Path, rebuilt_path: Path) -> str | None:
    """None when both archives hold the same image; otherwise where they first differ, in words."""
    ours, theirs = image_archive.read(image_path), image_archive.read(rebuilt_path)
    if ours.config_digest == theirs.config_digest:
        return None
    mine, other = ours.diff_ids, theirs.diff_ids
    for layer, (a, b) in enumerate(zip(mine, other, strict=False)):
        if a != b:
            files = image_archive.first_file_difference(
                image_archive.entries(image_path, ours.layer_paths[layer]),
                image_archive.entries(rebuilt_path, theirs.layer_paths[layer]))
            return (f"first in layer {layer + 1} of {len(mine)}, made by `{shorten(ours.step(layer))}`: "
                    f"{files or 'the same files, packed differently'}")
    if len(mine) != len(other):
        return f"in its number of layers: {len(mine)} in the image, {len(other)} in the rebuild"
    fields = image_archive.config_differences(ours.config, theirs.config)
    return f"{SETTINGS_ONLY}: {', '.join(fields[:5])}"


def shorten(step: str, width: int = 90) -> str:
    """A history entry without BuildKit's argument prefix and shell (`RUN |3 A=1 B=2 /bin/sh -c ...`,
    or the Dockerfile's SHELL, dated-run) and mark (`# buildkit`), cut to width."""
    command = re.split(r"(?:/bin/sh|/usr/local/bin/dated-run) -c ", step, maxsplit=1)[-1]
    command = " ".join(command.removesuffix(" # buildkit").split())
    return command if len(command) <= width else command[:width - 1] + "…"
