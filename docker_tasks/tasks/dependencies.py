"""`inv reqs`: does requirements.txt match what src/ imports? deptry answers, this module reports.

deptry maps imports to distributions from the installed packages' metadata, so no hand-written
import-to-package table is needed; that is why `make setup` installs the job's requirements on
your machine too. Packages used without an import (a pandas engine, say) are listed as
exceptions in pyproject.toml, under [tool.deptry.per_rule_ignores] DEP002.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker_tasks import base_image, build_secrets, commands, dependency_source, lockfile, python_version
from docker_tasks.build_failure import lock_failure
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine
from docker_tasks.settings import Settings

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# A requirement line: name, extras, version specifier, environment marker, comment.
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*(?P<spec>[^;#]*?)\s*"
                         r"(?P<marker>;[^#]*?)?\s*(?P<comment>#.*)?$")
UNIMPORTED = ("{names}: in {where} but never imported by src/. If another package loads it (keras its "
              "tensorflow backend, pandas its pyarrow engine, xgboost scikit-learn, a plugin), keep it and list it in "
              "pyproject.toml under [tool.deptry.per_rule_ignores] DEP002; if the job does not need it, {remove}")
PRUNE = "`inv reqs --write --prune` removes it"


def unimported(names: Sequence[str], source: dependency_source.Source) -> str:
    """The warning about listed packages nothing imports, which may still be used (UNIMPORTED)."""
    remove = PRUNE if source.kind == dependency_source.REQUIREMENTS else "remove it from [project] dependencies"
    return UNIMPORTED.format(names=", ".join(names), where=source.label, remove=remove)


def canonical(name: str) -> str:
    """PEP 503's normal form: `Scikit_Learn` and `scikit-learn` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Findings:
    missing: list[str] = field(default_factory=list)  # imported modules no requirement provides
    transitive: list[str] = field(default_factory=list)  # imported, installed only as another's dependency
    unused: list[str] = field(default_factory=list)  # listed packages nothing imports

    @property
    def clean(self) -> bool:
        return not (self.missing or self.transitive or self.unused)


def findings_from(report: list[dict]) -> Findings:
    """Sort deptry's JSON report into what is missing, transitive and unused. A package that only
    requirements-dev.txt lists (DEP004) is missing too: the image installs requirements.txt alone."""
    found = Findings()
    kinds = {"DEP001": found.missing, "DEP004": found.missing, "DEP003": found.transitive, "DEP002": found.unused}
    for issue in report:
        bucket = kinds.get(issue["error"]["code"])
        if bucket is not None and issue["module"] not in bucket:
            bucket.append(issue["module"])
    return found


def run_deptry(root: Path, source: dependency_source.Source | None = None, code: str = "src") -> Findings:
    """deptry's findings for src/ against the project's requirements, in whichever form it keeps them:
    requirements.txt is named to it; pyproject.toml's (and so uv.lock's) it reads itself."""
    source = source or dependency_source.detect(root)
    requirements = ["--requirements-files", dependency_source.REQUIREMENTS] \
        if source.kind == dependency_source.REQUIREMENTS else []
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "deptry.json"
        done = subprocess.run(
            [sys.executable, "-m", "deptry", code, *requirements, "--json-output", str(report), "--no-ansi"],
            cwd=root, capture_output=True, text=True,
        )
        if not report.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise TaskError(f"deptry could not check the requirements ({detail[-1] if detail else 'no output'}); "
                            "is it installed? `make setup` installs it")
        return findings_from(json.loads(report.read_text()))


def unpinned_name(line: str) -> str | None:
    """The package of a requirement line that pins no version; None for any other line."""
    match = REQUIREMENT.match(line.strip())
    if not match or line.lstrip().startswith(("#", "-")) or match["spec"].startswith(("==", "@", "http", "git+")):
        return None
    return match["name"]


def pinned(line: str, version_of: Callable[[str], str | None]) -> str:
    """A requirement line pinned to the version `version_of` finds (`name[extras]==X; marker  # comment`);
    a line that is pinned already, not a requirement, or of a version not found stays as it is."""
    match = REQUIREMENT.match(line.strip())
    if not match or unpinned_name(line) is None:
        return line
    version = version_of(match["name"])
    if not version:
        return line
    marker = f"; {match['marker'][1:].strip()}" if match["marker"] else ""
    comment = f"  {match['comment']}" if match["comment"] else ""
    return f"{match['name']}{match['extras'] or ''}=={version}{marker}{comment}"


def propose(
    requirements_text: str,
    found: Findings,
    distributions: Mapping[str, list[str]],
    version_of: Callable[[str], str | None],
    prune: bool = False,
) -> str:
    """requirements.txt with every line pinned (to the version `version_of` finds) and the missing
    packages added, pinned; the unused ones go only with `prune`, since a package may be used unimported.

    `distributions` maps an import name to the distributions that provide it (importlib.metadata's
    packages_distributions), and `version_of` gives a distribution's version, or None.
    """
    unused = {canonical(n) for n in found.unused} if prune else set()
    kept = []
    for line in requirements_text.splitlines():
        match = NAME.match(line)
        if match and not line.lstrip().startswith("#") and canonical(match.group(1)) in unused:
            continue
        kept.append(line if line.lstrip().startswith("#") else pinned(line, version_of))
    added = []
    for module in found.missing + found.transitive:
        names = distributions.get(module)
        version = version_of(names[0]) if names else None
        if not names or not version:
            raise TaskError(f"src/ imports {module!r}, but no installed package provides it, so its version is "
                            f"unknown: install it (pip install ...) in this environment and run `inv reqs` again")
        added.append(f"{names[0]}=={version}")
    return "\n".join(kept + sorted(set(added), key=str.lower)) + "\n"


def describe(found: Findings) -> list[str]:
    lines = []
    if found.missing:
        lines.append(f"imported but not in requirements.txt: {', '.join(found.missing)}")
    if found.transitive:
        lines.append(f"imported but only installed as another package's dependency: {', '.join(found.transitive)}")
    if found.unused:
        lines.append(f"in requirements.txt but not imported by src/: {', '.join(found.unused)}")
    return lines


def installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


INDEX_JSON = "https://pypi.org/pypi/{name}/json"


def index_version(distribution: str, timeout: float = 10) -> str | None:
    """The newest release PyPI serves of a distribution; None when it cannot be asked or has none."""
    import json as json_module
    import urllib.request

    try:
        with urllib.request.urlopen(INDEX_JSON.format(name=canonical(distribution)), timeout=timeout) as answer:
            return json_module.load(answer)["info"]["version"] or None
    except (OSError, ValueError, KeyError):
        return None


def version_finder(lock_text: str | None, *finders: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """A distribution's version: the lock's pin first (what the image installs), else each finder's."""
    pins = lockfile.pins(lock_text or "")

    def version_of(distribution: str) -> str | None:
        found = pins.get(canonical(distribution)) or pins.get(distribution.lower())
        for finder in finders:
            found = found or finder(distribution)
        return found

    return version_of


def diff(path: str, before: str, after: str) -> str:
    """A unified diff of a file's text, as the rewrites show them before they write."""
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{path}", f"b/{path}"))


def reqs(settings: Settings, *, write: bool, prune: bool, dry_run: bool) -> None:
    """Compare the project's requirements with src/'s imports; with `write`, add what is missing to
    requirements.txt and pin every line, with `prune` too, remove what nothing imports, and leave a
    lock that matches."""
    source = dependency_source.detect(settings.root, settings.job)
    if source.kind != dependency_source.REQUIREMENTS:
        compare_declared(settings.root, source, write=write or prune)
        return
    compare_requirements(settings.root, write=write, prune=prune, dry_run=dry_run)
    if write and not dry_run and dependency_source.lock_problem(settings.root, settings.job):
        lock(settings)


def compare_declared(root: Path, source: dependency_source.Source, *, write: bool) -> None:
    """`inv reqs` of a project whose requirements are in pyproject.toml: the tasks compare, and the
    project's own tools edit its pyproject.toml (versions there are ranges, pinned by the lock)."""
    found = run_deptry(root, source)
    lacking = Findings(found.missing, found.transitive)
    if found.unused:
        print(f"! {unimported(found.unused, source)}")
    if lacking.clean:
        print(f"✓ {source.label}: every package src/ imports is there")
        return
    for line in describe(lacking):
        print(f"✗ {line.replace('requirements.txt', source.label)}")
    adding = " ".join(lacking.missing + lacking.transitive)
    then = "then `inv lock`" if source.kind == dependency_source.PYPROJECT else "then `inv lock` (uv add runs uv lock)"
    action = "`inv reqs --write` edits requirements.txt alone; " if write else ""
    raise TaskError(f"{source.label} lack what src/ imports: {action}`uv add {adding}` adds it to pyproject.toml "
                    f"(or add it to [project] dependencies by hand), {then}")


def compare_requirements(root: Path, *, write: bool, prune: bool, dry_run: bool) -> None:
    from importlib.metadata import packages_distributions

    found = run_deptry(root, dependency_source.Source(dependency_source.REQUIREMENTS))
    path, lock_path = root / "requirements.txt", root / lockfile.LOCK_FILE
    before = path.read_text()
    lock_text = lock_path.read_text() if lock_path.is_file() else None
    version_of = version_finder(lock_text, installed_version, *([index_version] if write or dry_run else []))
    after = propose(before, found, packages_distributions(), version_of, prune=prune)
    unresolved = [name for name in map(unpinned_name, after.splitlines()) if name]
    if found.clean and after == before and not unresolved:
        print("✓ requirements.txt matches what src/ imports, every line pinned")
        return
    for line in describe(Findings(found.missing, found.transitive)):
        print(f"✗ {line}")
    if found.unused:
        print(("removing " if prune else "! ") + unimported(found.unused, dependency_source.Source("requirements.txt")))
    if unresolved:
        print(f"! left unpinned: {', '.join(unresolved)}: {'not' if len(unresolved) == 1 else 'none'} in "
              f"{lockfile.LOCK_FILE} or this environment, and the package index named no version"
              + ("" if write or dry_run else " (not asked without --write)")
              + "; pin by hand (name==version), or `inv lock` pins it in the lock")
    if after == before:
        return
    if not (write or dry_run):
        raise TaskError("requirements.txt does not match src/'s imports, or has unpinned lines; `inv reqs --write` "
                        "adds what is missing and pins every line (see it first with `inv reqs --dry-run`)")
    print(diff("requirements.txt", before, after), end="")
    if dry_run:
        print("(dry run: requirements.txt is unchanged)")
        return
    path.write_text(after)
    print("wrote requirements.txt" + (f", with {len(unresolved)} line(s) left unpinned, named above" if unresolved
                                      else ", every line pinned"))


def lock(settings: Settings, *, upgrade: bool = False, secret_specs: Sequence[str] = (), dry_run: bool = False,
         environ: Mapping[str, str] = os.environ) -> None:
    """Resolve the project's requirements into requirements.lock, in the Dockerfile's `lock` stage:
    for the image's own Python, keeping the current pins unless `upgrade`; or export its uv.lock.
    Shows what changed. `secret_specs` reach the resolver as they reach `inv build` (a private
    package index, say)."""
    root, path = settings.root, settings.root / lockfile.LOCK_FILE
    source = dependency_source.detect(root, settings.job)
    if source.note:
        print(source.note)
    if upgrade and source.kind == dependency_source.UV_LOCK:
        raise TaskError("the versions are uv.lock's: `uv lock --upgrade` moves them, then `inv lock` exports them; "
                        f"{lockfile.LOCK_FILE} is unchanged")
    given_secrets = build_secrets.parse_all(secret_specs, Path.cwd())
    secret_values = build_secrets.values_for(given_secrets, environ, settings.dotenv)
    _, base_reason = settings.base_choice()
    with tempfile.TemporaryDirectory() as folder:
        args = {**settings.index_and_base_args, **source.lock_args, **({"LOCK_UPGRADE": "1"} if upgrade else {})}
        argv = commands.buildx_build(root, [], {}, args, output=f"type=local,dest={folder}", target="locked",
                                     no_cache_filter="lock", progress="plain",
                                     secrets=[secret.flag for secret in given_secrets])
        if dry_run:
            print(commands.show(argv))
            print(f"# base image: {base_reason}")
            return
        doing = "exporting uv.lock" if source.kind == dependency_source.UV_LOCK else f"resolving {source.label}"
        print(f"{doing} for the image's Python" + (", at the newest versions" if upgrade else ""))
        status, tail = engine.run_process(argv, keep=400, show=False, env=secret_values)
        if status != 0:
            raise TaskError(f"{lock_failure(tail, settings.base_name(), source.label)}; "
                            f"{lockfile.LOCK_FILE} is unchanged")
        compiled = (Path(folder) / lockfile.LOCK_FILE).read_text()
    before = path.read_text() if path.is_file() else None
    after = lockfile.with_header(source, dependency_source.digest(root, source), compiled)
    changed = lockfile.changes(before, after)
    path.write_text(after)
    for line in changed:
        print(line)
    count = len(lockfile.pins(after))
    packages = f"{count} package{'s' * (count != 1)}"
    print(f"wrote {lockfile.LOCK_FILE}: {packages}" + ("" if changed else ", no version changed")
          + f"; commit it with {source.kind}, and `inv build` installs exactly these")


def base(settings: Settings, *, update: bool = False, dry_run: bool = False) -> None:
    """Compare the Dockerfile's pinned base image with what its tag names now; with `update`, move the pin."""
    dockerfile = settings.root / "Dockerfile"
    text = dockerfile.read_text()
    pin = base_image.dockerfile_pin(text)
    if pin is None:
        raise TaskError("the Dockerfile has no `ARG BASE_IMAGE=` line with a default; add one, "
                        "e.g. ARG BASE_IMAGE=python:3.11-slim, then run `inv base --update`")
    if settings.base_image:
        print(f"note: BASE_IMAGE={settings.base_image} is set (flag, environment or .env), and builds use it; "
              "the Dockerfile's default below applies when it is not")
    else:
        pin = following_python(settings, pin)
    client = engine.connect()
    try:
        current, platforms = engine.registry_digest(client, pin.reference)
    except TaskError as exc:
        raise TaskError(f"could not ask the registry what {pin.reference} names now ({str(exc)[:200]}); check the "
                        "network, or log in to the registry (`inv login --registry HOST`) if it is private; "
                        "the Dockerfile is unchanged") from None
    where = f"{pin.reference} is now {base_image.short(current)} ({', '.join(platforms) or 'platforms unknown'})"
    if current == pin.digest:
        print(f"✓ the Dockerfile's base image is current: {where}")
        return
    moved = base_image.Pin(pin.reference, current)
    if not update:
        pinned_as = base_image.short(pin.digest) if pin.digest else "the tag alone, which moves"
        raise TaskError(f"the Dockerfile pins {pinned_as}, and {where}; `inv base --update` moves the pin "
                        "(then `inv lock` and a build)")
    for line in describe_change(client, pin, moved):
        print(line)
    if dry_run:
        print(f"(dry run: the Dockerfile still pins {pin})")
        return
    dockerfile.write_text(base_image.with_pin(text, moved))
    print(f"pinned {moved} in the Dockerfile; build, test and commit it (`inv lock` first if Python changed)")


def following_python(settings: Settings, pin: base_image.Pin) -> base_image.Pin:
    """The pin `inv base` checks: the Dockerfile's, or, when the project names another Python, the
    slim image of that Python, which has no digest yet until `inv base --update` pins it."""
    choice = python_version.choose(settings.root, dependency_source.pyproject(settings.root).get("project", {}),
                                   str(pin) and f"ARG BASE_IMAGE={pin}\n")
    if choice is None or choice.image == str(pin):
        return pin
    print(f"the project asks for Python {choice.version} ({choice.reason}), and the Dockerfile pins {pin.reference}; "
          f"so {choice.image.split('@')[0]} is checked")
    return base_image.parse(choice.image)


def local_image(client, pin: base_image.Pin) -> dict | None:
    """The engine's image of a pin, if it has one: by name and digest, or by id, which on the
    containerd store is the digest."""
    for reference in (f"{pin.repository}@{pin.digest}", pin.digest) if pin.digest else ():
        if image := engine.inspect(client, "image", reference):
            return image
    return None


def describe_change(client, old: base_image.Pin, new: base_image.Pin) -> list[str]:
    """`was` and `now` lines of a moved pin, with the creation date and Python of each image the
    engine has (the new one is pulled: the next build needs it anyway)."""
    for _ in engine.pull(client, f"{new.repository}@{new.digest}", tag=None):
        pass
    lines = []
    for label, pin in (("was", old), ("now", new)):
        image = local_image(client, pin)
        if image is None:
            lines.append(f"  {label}: {base_image.short(pin.digest)}")
            continue
        env = dict(item.split("=", 1) for item in image.get("Config", {}).get("Env") or [] if "=" in item)
        python = f", Python {env['PYTHON_VERSION']}" if "PYTHON_VERSION" in env else ""
        lines.append(f"  {label}: {base_image.short(pin.digest)}, created {image.get('Created', '?')[:10]}{python}")
    return lines
