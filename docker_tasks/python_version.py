"""The job's Python, as the project states it, and the official slim image that has it.

`.python-version` (pyenv's and uv's file) wins; else `requires-python` in pyproject.toml's
[project] chooses the newest version it allows; else the Dockerfile's pinned default applies. A
BASE_IMAGE setting wins over all of these (settings.py). The digest of the chosen image's tag is
taken from the Dockerfile's pin when the pin is of that tag (`inv base --update` pins it);
otherwise the tag alone is used, and said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from docker_tasks import base_image
from docker_tasks.errors import TaskError

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")  # the official python:X.Y-slim images the tasks choose from
VERSION_FILE = ".python-version"
CLAUSE = re.compile(r"^(?P<op>~=|==|!=|<=|>=|<|>|===)\s*(?P<version>\d+(?:\.\d+)*)(?P<wildcard>\.\*)?$")


@dataclass(frozen=True)
class BaseChoice:
    version: str  # 3.12
    reason: str  # `.python-version` says 3.12
    image: str  # python:3.12-slim@sha256:..., or python:3.12-slim when no pin is known

    def describe(self) -> str:
        pinned = "" if "@" in self.image else " (by its tag alone: `inv base --update` pins its digest)"
        return f"{self.image}, for Python {self.version}: {self.reason}{pinned}"


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _satisfies(candidate: tuple[int, ...], op: str, version: str, wildcard: bool) -> bool:
    wanted = _release(version)
    if wildcard or op == "===":
        same = candidate[:len(wanted)] == wanted
        return same if op in ("==", "===") else not same
    padded = max(len(candidate), len(wanted))
    left, right = candidate + (0,) * (padded - len(candidate)), wanted + (0,) * (padded - len(wanted))
    if op == "~=":
        return left >= right and candidate[:len(wanted) - 1] == wanted[:-1]
    return {"==": left == right, "!=": left != right, "<=": left <= right, ">=": left >= right,
            "<": left < right, ">": left > right}[op]


def allowed(specifier: str, minor: str) -> bool:
    """Whether some release of Python `minor` (3.12.0, 3.12.1, ...) satisfies every clause."""
    clauses = []
    for text in filter(None, (part.strip() for part in specifier.split(","))):
        match = CLAUSE.match(text)
        if not match:
            raise TaskError(f"requires-python {specifier!r} in pyproject.toml: {text!r} is not a version clause; "
                            "write e.g. \">=3.11\" or \">=3.10,<3.13\"")
        clauses.append((match["op"], match["version"], bool(match["wildcard"])))
    return any(all(_satisfies((*_release(minor), patch), *clause) for clause in clauses) for patch in range(60))


def from_version_file(text: str) -> str:
    """X.Y from a .python-version line: `3.12`, `3.12.4`, `cpython-3.12.4`, `3.12/envs/x` all name 3.12."""
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    match = re.match(r"^(?:cpython-|python)?(\d+)\.(\d+)", first)
    if not match:
        raise TaskError(f"{VERSION_FILE} says {first!r}, which names no Python version; write one, e.g. 3.12")
    return f"{match[1]}.{match[2]}"


def unsupported(version: str, where: str) -> TaskError:
    return TaskError(f"Python {version} ({where}): the tasks build on the official python:X.Y-slim images of "
                     f"{SUPPORTED[0]} to {SUPPORTED[-1]}; choose one of those in {VERSION_FILE}, or set BASE_IMAGE "
                     f"to an image that has Python {version}")


def project_version(root: Path, project: dict) -> tuple[str, str] | None:
    """The version the project asks for and why, or None when it names none."""
    path = root / VERSION_FILE
    if path.is_file():
        version = from_version_file(path.read_text())
        if version not in SUPPORTED:
            raise unsupported(version, f"from {VERSION_FILE}")
        return version, f"{VERSION_FILE} says {version}"
    specifier = project.get("requires-python")
    if not specifier:
        return None
    fitting = [version for version in SUPPORTED if allowed(specifier, version)]
    if not fitting:
        raise TaskError(f"requires-python {specifier!r} in pyproject.toml allows none of Python "
                        f"{', '.join(SUPPORTED)}, the official slim images the tasks build on; widen it, or set "
                        "BASE_IMAGE to an image with your Python")
    return fitting[-1], f"the newest Python that requires-python {specifier!r} allows ({VERSION_FILE} pins one)"


def choose(root: Path, project: dict, dockerfile: str) -> BaseChoice | None:
    """The base image for the project's Python; None when the project names no version, so that
    the Dockerfile's default applies."""
    wanted = project_version(root, project)
    if wanted is None:
        return None
    version, reason = wanted
    tag = f"python:{version}-slim"
    pin = base_image.dockerfile_pin(dockerfile)
    image = str(pin) if pin and pin.reference == tag else tag
    return BaseChoice(version, reason, image)
