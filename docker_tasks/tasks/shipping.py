"""Shipping images: log in to a registry, push this project's tags, pull an image back."""

from __future__ import annotations

import getpass
import json
import secrets
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docker_tasks import commands, labels, lockfile, platforms, registry, sbom, selection, stores, tables
from docker_tasks.commands import MASK, compress_command, compress_dockerfile, remark, show
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine, git_state
from docker_tasks.settings import Settings
from docker_tasks.tags import build_tag, split_reference

Prompt = Callable[[str], str]


def credentials(environ: Mapping[str, str], settings: Settings, *, interactive: bool,
                ask: Prompt = input, ask_secret: Prompt = getpass.getpass,
                read_stdin: Callable[[], str] = sys.stdin.readline) -> tuple[str, str]:
    """REGISTRY_USERNAME with REGISTRY_PASSWORD or REGISTRY_TOKEN (environment, then .env), else
    a prompt in a terminal, else the password on standard input. Never a command-line argument."""
    username = settings.lookup("REGISTRY_USERNAME", environ)
    secret = settings.lookup("REGISTRY_PASSWORD", environ) or settings.lookup("REGISTRY_TOKEN", environ)
    if not username:
        if not interactive:
            raise TaskError("no registry user name: set REGISTRY_USERNAME in the environment or .env")
        username = ask("registry user name: ").strip()
    if not secret:
        secret = ask_secret("password or token: ") if interactive else read_stdin().rstrip("\n")
    if not username or not secret:
        raise TaskError("a user name and a password or token are needed: set REGISTRY_USERNAME and "
                        "REGISTRY_PASSWORD (or REGISTRY_TOKEN), or pipe the password to `inv login`")
    return username, secret


def login(settings: Settings, *, registry_flag: str | None, ecr: bool, environ: Mapping[str, str],
          interactive: bool, dry_run: bool) -> None:
    """Log in with the docker CLI, so the credentials are stored as it stores them."""
    server = registry.login_server(registry_flag or settings.registry, settings.image_name)
    if dry_run:
        print(show(registry.login_command(server, "USER")) + "   # the password goes to standard input")
        return
    if ecr:
        from docker_tasks.seams import aws

        username, secret = aws.ecr_credentials(registry.ecr_region(server))
    else:
        username, secret = credentials(environ, settings, interactive=interactive)
    status, output = engine.docker_login(registry.login_command(server, username), secret)
    if status != 0:
        raise TaskError(registry.explain_registry_error(output.replace(secret, MASK), server))
    print(f"logged in to {server} as {username}; docker stored the credentials, so `docker push` works too")


def _tags_to_push(settings: Settings, images: list[dict], *, version: str | None, tags: Sequence[str],
                  all_versions: bool) -> list[str]:
    if sum([bool(version), bool(tags), all_versions]) > 1:
        raise TaskError("give one of --version, --tag or --all-versions")
    if version:
        return [selection.check_version(version)]
    if tags:
        return list(tags)
    if all_versions:
        found = sorted({t for image in images for t in selection.version_tags(image, settings.image_name)})
        if not found:
            raise TaskError(f"{settings.project} has no version tags yet; make one with `inv tag --version 1.0`")
        return found
    git = git_state.read(settings.root)
    if git.sha is None:
        raise TaskError(f"{git.problem}: say what to push with --tag or --version")
    return [build_tag(git.short_sha, git.dirty_digest, datetime.now(UTC)), "latest"]


def push(settings: Settings, *, registry_flag: str | None, version: str | None, tags: Sequence[str],
         all_versions: bool, allow_dirty: bool, allow_platform_mismatch: bool, provenance: bool = True,
         dry_run: bool) -> None:
    """Push the chosen tags of this project's image, refusing dirty builds and foreign platforms.
    Reproducible builds of the checkout's commit go through a rebuild from BuildKit's cache, which
    attaches provenance; other images are pushed as they are (compress_command)."""
    repository = registry.target_repository(settings.image_name, registry_flag or settings.registry)
    client = engine.connect()
    images = engine.images(client, labels.project_filter(settings.project))
    chosen = _tags_to_push(settings, images, version=version, tags=tags, all_versions=all_versions)
    wanted = platforms.parse(settings.platform, "PLATFORM") if settings.platform else []
    checked: dict[str, list] = {}  # image id: the image, and the tags of it to push
    for tag in chosen:
        reference = f"{settings.image_name}:{tag}"
        image = selection.owned_image(engine.inspect(client, "image", reference), settings.project, reference)
        if labels.built_dirty(image["Config"].get("Labels")) and not allow_dirty:
            raise TaskError(f"{settings.image_name}:{tag} was built from uncommitted changes; commit and "
                            "`inv build` first, or add --allow-dirty")
        lacking = platforms.lacking_message(f"{settings.image_name}:{tag}", image, wanted, "PLATFORM")
        if lacking and not allow_platform_mismatch:
            raise TaskError(f"{lacking}, or add --allow-platform-mismatch")
        if not wanted and platforms.held(image) != ["linux/amd64"]:
            print(f"note: {tag} holds {', '.join(platforms.held(image))}; set PLATFORM (e.g. linux/amd64) "
                  "to check that it matches where it will run")
        checked.setdefault(image["Id"], [image, []])[1].append(tag)
    compression = settings.push_compression
    store = stores.image_store(engine.info(client))
    if compression != "gzip" and not dry_run and store == stores.CLASSIC:
        raise TaskError(f"PUSH_COMPRESSION={compression} needs the containerd image store: the classic store's "
                        "pushes are always gzip. Push with gzip, or switch the engine to the containerd store "
                        "(docs.docker.com/engine/storage/containerd)")
    git = git_state.read(settings.root) if provenance else None
    for image, image_tags in checked.values():
        blocker = registry.provenance_blocker(image["Config"].get("Labels") or {}, git, store) if provenance else None
        if blocker:
            print(remark(f"note: {', '.join(image_tags)} go without provenance: {blocker}", dry_run=dry_run))
        targets = [f"{repository}:{tag}" for tag in image_tags]
        if provenance and not blocker:
            _push_rebuilt(settings, client, git, image, targets, compression, dry_run=dry_run)
        else:
            for tag, target in zip(image_tags, targets, strict=True):
                _push_as_it_is(settings, client, image, f"{settings.image_name}:{tag}", target, compression,
                               dry_run=dry_run)


def _push_as_it_is(settings: Settings, client, image: dict, source: str, target: str, compression: str, *,
                   dry_run: bool) -> None:
    held = platforms.held(image)
    if dry_run:
        print(f"echo {shlex.quote(compress_dockerfile(source).strip())} | "
              f"{show(compress_command(target, compression, metadata_file=None, platforms=held))}")
        print(show(["docker", "push", target]))
        print(SBOM_REMARK)
        return
    print(f"pushing {target} ({', '.join(held)}), its layers {compression}-compressed")
    _pushed(settings, client, image, [target], compression, lambda metadata: engine.run_process(
        compress_command(target, compression, metadata, platforms=held), stdin=compress_dockerfile(source),
        shown_as=_quiet))


def _push_rebuilt(settings: Settings, client, git, image: dict, targets: list[str], compression: str, *,
                  dry_run: bool) -> None:
    """Push a reproducible build of the checkout's commit with a provenance attestation: BuildKit
    builds the commit again, from its cache, into a compressed copy with the attestation beside it,
    which the engine pushes. A rebuild first checks that the build's settings give the very image
    (an image id is its content's digest)."""
    from docker_tasks.tasks import building

    image_labels = image["Config"].get("Labels") or {}
    check_tag = f"{settings.image_name}:push-check-{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="commit-") as folder:
        def command(tags: list[str], output: str | None = None, attest: bool = False) -> list[str]:
            return building.build_command(
                settings, git, tags, build_args={}, created=git_state.build_time(git, datetime.now(UTC)),
                own_tag=image_labels.get(labels.BUILD_TAG, git.short_sha), reproducible=True, provenance=attest,
                platforms=platforms.recorded(image_labels), context=Path(folder),
                output=output)

        compress_argv = command([], commands.image_output(targets, compression), attest=True)
        if dry_run:
            print(commands.export_commit(git.short_sha, Path(folder), git_state.FILE_TIME))
            print(show(command([check_tag])) + "   # the same image as the one built? then:")
            print(show(compress_argv))
            for target in targets:
                print(show(["docker", "push", target]))
            print(SBOM_REMARK)
            return
        git_state.export_commit(settings.root, git.sha, Path(folder))
        print(f"rebuilding {git.short_sha} from the build cache, to push it with its provenance")
        status, tail = engine.run_process(command([check_tag]), keep=80, show=False)
        rebuilt = engine.inspect(client, "image", check_tag) if status == 0 else None
        engine.untag(client, check_tag)
        if rebuilt is None or rebuilt["Id"] != image["Id"]:
            why = building.build_failure(tail) if status != 0 else ""
            raise TaskError(f"{git.short_sha} rebuilt into another image than {settings.image_name}:"
                            f"{image_labels.get(labels.BUILD_TAG)}{why}, so its provenance would not describe it: "
                            "was it built with other settings (BASE_IMAGE, --platform, --build-arg), or tagged in "
                            "git since? Build it again with `inv build --reproducible`, or push it without "
                            "provenance (--no-provenance)")
        held = platforms.held(image)
        print(f"pushing {', '.join(targets)} ({', '.join(held)}), its layers {compression}-compressed, "
              "with provenance")
        _pushed(settings, client, image, targets, compression, lambda metadata: engine.run_process(
            commands.with_metadata_file(compress_argv, metadata), shown_as=_quiet), provenance=True)


def _quiet(line: str) -> None:
    """Not shown: BuildKit's lines while it compresses a copy to push (in a terminal, its own
    progress shows how far it got)."""
    return None


def _pushed(settings: Settings, client, image: dict, targets: list[str], compression: str, compress,
            provenance: bool = False) -> None:
    """Have BuildKit make the compressed copy under the `targets` names (`compress`, given the
    metadata file to write), push each with the engine's progress of every layer, explain a
    failure in one line, and print and record what the registry holds now."""
    repository = targets[0].rpartition(":")[0]  # every target is a tag of it
    server = repository.split("/")[0]
    with tempfile.TemporaryDirectory(prefix="push-") as folder:
        metadata = Path(folder) / "metadata.json"
        status, tail = compress(metadata)
        config = registry.config_digest(json.loads(metadata.read_text()) if metadata.is_file() else {})
    if status != 0:
        reason = f": {registry.push_error(tail)}" if tail else ", for the reason shown above"
        raise TaskError(f"BuildKit could not make the {compression}-compressed copy to push{reason}; "
                        "nothing was pushed")
    digest, tallies = None, []
    for target in targets:  # the first sends the layers; the others find them there
        outcome = _follow(engine.push(client, repository, target.rpartition(":")[2]))
        if outcome.error or not outcome.digest:
            raise TaskError(registry.explain_registry_error(
                outcome.error or "the engine reported no digest for the push", server))
        digest = digest or outcome.digest
        tallies.append(_tally(outcome, f"{repository}@{outcome.digest}", image))
    tally = tallies[0]  # what this push sent, all of it by the first tag
    print(f"pushed {repository}@{digest}{registry.what_was_pushed(platforms.held(image), provenance)}")
    sbom_reference = _publish_sbom(settings, image, repository, digest)
    for target in targets:
        registry.record_push(settings.root, reference=target, digest=digest, image_id=image["Id"],
                             when=datetime.now(UTC), config=config, compression=compression, provenance=provenance,
                             sbom=sbom_reference, tally=tally)


def _tally(outcome: registry.Outcome, pushed: str, image: dict) -> registry.Tally | None:
    """Print what this push sent against what the registry already had, from the manifests the
    registry now serves; the tally, or None when the registry would not say."""
    inspected = engine.registry_manifests(pushed)
    diff_ids = (image.get("RootFS") or {}).get("Layers") or []
    tally = registry.push_tally(outcome.layers, registry.manifests_of(inspected), diff_ids) if inspected else None
    print(registry.tally_line(tally) if tally else
          f"sent {sum(fate == 'pushed' for fate in outcome.layers.values())} of {len(outcome.layers)} layers "
          "(the registry did not say their sizes)")
    return tally


SBOM_REMARK = "# then its SBOM, from requirements.lock, beside the pushed digest as NAME:sha256-<hex>.sbom"


def _lock_of(settings: Settings, image_labels: dict) -> str | None:
    """The requirements.lock the image was built from, by the digest its label records: the
    checkout's, else its commit's; None when neither is (or the image records none)."""
    recorded = image_labels.get(labels.LOCK)
    candidates = [lambda: (settings.root / lockfile.LOCK_FILE).read_text()]
    if image_labels.get(labels.GIT_SHA, "none") != "none":
        candidates.append(lambda: git_state.file_at(settings.root, image_labels[labels.GIT_SHA], lockfile.LOCK_FILE))
    for read in candidates:
        text = read()
        if recorded and text and sbom.lock_digest(text) == recorded:
            return text
    return None


def _publish_sbom(settings: Settings, image: dict, repository: str, digest: str) -> str | None:
    """Push the SBOM of the image's Python packages (sbom.py) beside the pushed digest, as a one-file
    image tagged `sha256-<hex>.sbom`, and keep a copy in .dockertasks/sbom/; its reference, or None."""
    image_labels = image["Config"].get("Labels") or {}
    lock = _lock_of(settings, image_labels)
    if lock is None:
        print(f"note: no SBOM for {repository}@{digest}: neither the checkout's requirements.lock nor its commit's "
              "is the one the image was built from; push it from that commit (or rebuild it) to publish one")
        return None
    commit = image_labels.get(labels.GIT_SHA)
    document = sbom.rendered(sbom.cyclonedx(lock, repository=repository, digest=digest, commit=commit))
    kept = settings.root / registry.SBOM_FOLDER / f"{sbom.tag_for(digest)}.cdx.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(document)
    reference = f"{repository}:{sbom.tag_for(digest)}"
    with tempfile.TemporaryDirectory(prefix="sbom-") as folder:
        (Path(folder) / sbom.FILE_NAME).write_text(document)
        (Path(folder) / "Dockerfile").write_text(sbom.DOCKERFILE)
        argv = commands.buildx_build(Path(folder), [], {labels.PROJECT: settings.project, sbom.SUBJECT: digest},
                                     {}, output=commands.image_output([reference], "gzip", push=True))
        status, tail = engine.run_process(argv, show=False)
    if status != 0:
        raise TaskError(f"{repository}@{digest} is pushed, but its SBOM is not: "
                        f"{registry.explain_registry_error(registry.push_error(tail), repository.split('/')[0])}; "
                        f"it is in {kept.relative_to(settings.root)}")
    print(f"published its SBOM ({len(sbom.packages(lock))} Python packages, CycloneDX) as {reference}")
    return reference


def _follow(events, live: bool | None = None) -> registry.Outcome:
    """Print a line per layer pulled or pushed; in a terminal, also each moving layer's bytes and
    speed, redrawn in place a few times a second (ANSI: up so many lines, clear to the end)."""
    live = sys.stdout.isatty() if live is None else live
    progress, drawn, last = registry.TransferProgress(), [0], [0.0]

    def clear() -> None:
        if drawn[0]:
            sys.stdout.write(f"\x1b[{drawn[0]}F\x1b[J")
            drawn[0] = 0

    def watched():
        for event in events:
            now = time.monotonic()
            progress.update(event, now)
            if live and now - last[0] >= 0.2:
                clear()
                lines = progress.lines(now)
                sys.stdout.write("".join(line + "\n" for line in lines))
                sys.stdout.flush()
                drawn[0], last[0] = len(lines), now
            yield event

    for item in registry.layer_lines(watched()):
        clear()
        if isinstance(item, registry.Outcome):
            return item
        print(item)
    clear()
    return registry.Outcome()


def pull(settings: Settings, *, reference: str, dry_run: bool) -> None:
    """Pull a tag or a digest (`name@sha256:...`)."""
    name, tag = split_reference(reference)
    digest = reference.split("@", 1)[1] if "@" in reference else None
    server = name.split("/")[0] if "/" in name else "docker.io"
    if dry_run:
        print(show(["docker", "pull", reference]))
        return
    client = engine.connect()
    print(f"pulling {reference}")
    outcome = _follow(engine.pull(client, name, digest or tag or "latest"))
    if outcome.error:
        raise TaskError(registry.explain_registry_error(outcome.error, server))
    image = engine.inspect(client, "image", reference)
    if image is None:
        raise TaskError(f"the pull of {reference} ended without an image; try again")
    print(f"pulled {reference} (image {tables.short_id(image)}); run it with: inv run --image {reference}")
