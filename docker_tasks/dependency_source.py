"""Where the project keeps its requirements, and how `inv lock` turns them into requirements.lock.

A project lists what the job needs in one of three ways, and the tasks take it as it is:

    requirements.txt                   one requirement a line, resolved by `inv lock`
    pyproject.toml [project]           its `dependencies`, and the optional groups the job contract
                                       names in `extras`, resolved by `inv lock`
    uv.lock (beside pyproject.toml)    uv's own lock, exported by `inv lock` as it is, no resolving

Whatever the form, the image installs requirements.lock: one version of every package, with its
files' hashes. The lock records a digest of what it came from, so a build from a lock older than
its source is refused. A project with two forms at once says which wins (`dependencies = ...` in
the job contract) or the tasks refuse, since a silent choice would install what the user did not
mean. The functions here are pure but for reading the project's files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from docker_tasks import job as job_contract
from docker_tasks import lockfile
from docker_tasks.errors import TaskError

REQUIREMENTS, PYPROJECT, UV_LOCK = job_contract.DEPENDENCY_FILES


@dataclass(frozen=True)
class Source:
    kind: str  # REQUIREMENTS, PYPROJECT or UV_LOCK: the file whose change needs a new lock
    extras: tuple[str, ...] = ()
    note: str | None = None  # the one line that says which form won, when the project has two

    @property
    def label(self) -> str:
        """What the lock came from, as its header and the tasks' messages name it."""
        groups = f" with extras {', '.join(self.extras)}" if self.extras else ""
        if self.kind == PYPROJECT:
            return f"pyproject.toml's [project] dependencies{groups}"
        if self.kind == UV_LOCK:
            return f"uv.lock{groups}"
        return REQUIREMENTS

    @property
    def lock_args(self) -> dict[str, str]:
        """The build arguments of the Dockerfile's `lock` stage that choose this form."""
        return {"LOCK_SOURCE": self.kind, "LOCK_EXTRAS": " ".join(self.extras)}

    @property
    def how_to_change(self) -> str:
        if self.kind == UV_LOCK:
            return "change pyproject.toml, run `uv lock`, then `inv lock`"
        return f"change {self.kind} and run `inv lock`"


def pyproject(root: Path) -> dict:
    """pyproject.toml's document ({} when there is none)."""
    return job_contract.pyproject_document(root)


def _declared_dependencies(project: dict) -> bool:
    return "dependencies" in project or "dependencies" in project.get("dynamic", [])


def detect(root: Path, job: job_contract.Job | None = None) -> Source:
    """The form the project at `root` keeps its requirements in; a one-line error when it has none,
    two without saying which wins, or a form the image cannot install from."""
    job = job or job_contract.read(root)
    project = pyproject(root).get("project", {})
    present = [kind for kind, there in ((REQUIREMENTS, (root / REQUIREMENTS).is_file()),
                                        (PYPROJECT, _declared_dependencies(project)),
                                        (UV_LOCK, (root / UV_LOCK).is_file())) if there]
    if job.dependencies:
        kind, note = job.dependencies, f"the image installs from {job.dependencies}, as the job contract says"
        if kind == PYPROJECT and UV_LOCK in present:
            note += " (uv.lock is not used)"
        if kind not in present:
            raise TaskError(f"dependencies = {kind!r} in {job_contract.SECTION}, but this project has "
                            f"{_describe_missing(kind)}; write it, or name the file it has")
    elif REQUIREMENTS in present and len(present) > 1:
        others = " and ".join(_named(kind) for kind in present[1:])
        raise TaskError(f"this project lists its requirements twice, in requirements.txt and in {others}; say which "
                        f"the image installs with dependencies = \"requirements.txt\" (or \"{present[-1]}\") in "
                        f"{job_contract.SECTION}, or delete the other")
    elif present:
        kind, note = present[-1], None  # uv.lock, when there is one, is the lock of pyproject.toml's dependencies
    else:
        raise TaskError("this project lists no requirements: write requirements.txt (one package a line), or "
                        "[project] dependencies in pyproject.toml, then run `inv lock`")
    if kind != REQUIREMENTS:
        _require_static(project, kind)
    return Source(kind, _checked_extras(job.extras, kind, project), note)


def _named(kind: str) -> str:
    return "pyproject.toml's [project] dependencies" if kind == PYPROJECT else kind


def _describe_missing(kind: str) -> str:
    return "no [project] dependencies in pyproject.toml" if kind == PYPROJECT else f"no {kind}"


def _require_static(project: dict, kind: str) -> None:
    if not project:
        raise TaskError(f"{kind} needs a [project] table in pyproject.toml, with the job's dependencies")
    if "dependencies" in project.get("dynamic", []):
        raise TaskError("pyproject.toml declares its dependencies dynamic, so they cannot be read without building "
                        "the project; list them in [project] dependencies, or in requirements.txt")


def _checked_extras(extras: tuple[str, ...], kind: str, project: dict) -> tuple[str, ...]:
    if not extras:
        return ()
    if kind == REQUIREMENTS:
        raise TaskError(f"extras in {job_contract.SECTION} name pyproject.toml's optional dependency groups, and "
                        "this project's requirements are in requirements.txt; list them there, or remove extras")
    groups = project.get("optional-dependencies", {})
    unknown = [name for name in extras if name not in groups]
    if unknown:
        known = ", ".join(sorted(groups)) or "none"
        raise TaskError(f"extras in {job_contract.SECTION} names {', '.join(unknown)}, which pyproject.toml's "
                        f"[project.optional-dependencies] does not have (it has {known})")
    return extras


def requirement_lines(requirements: str) -> list[str]:
    """The lines that choose packages, without comments, blanks or spacing, in a stable order."""
    lines = (re.sub(r"(^|\s)#.*", "", line) for line in requirements.splitlines())
    return sorted({re.sub(r"\s+", "", line) for line in lines} - {""})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest(root: Path, source: Source) -> str:
    """What the lock must have come from, by content: the requirement lines (a changed comment or
    order keeps the lock), pyproject.toml's dependencies and chosen groups, or uv.lock itself."""
    if source.kind == REQUIREMENTS:
        return _sha256("\n".join(requirement_lines((root / REQUIREMENTS).read_text())))
    if source.kind == UV_LOCK:
        return _sha256((root / UV_LOCK).read_text() + "".join(f"\n[extra] {name}" for name in source.extras))
    project = pyproject(root)["project"]
    groups = project.get("optional-dependencies", {})
    lines = [*project.get("dependencies", []), *(f"[{name}] {line}" for name in source.extras for line in groups[name])]
    return _sha256("\n".join(sorted(re.sub(r"\s+", "", line) for line in lines)))


def lock_problem(root: Path, job: job_contract.Job | None = None) -> str | None:
    """Why the project at `root` cannot be built from its requirements.lock, in one line; None when it can."""
    source = detect(root, job)
    lock = root / lockfile.LOCK_FILE
    return lockfile.problem(source, digest(root, source), lock.read_text() if lock.is_file() else None)
