"""The job contract: what the tasks need to know about the job in src/, declared in one place.

Any program the image runs is a job, and `inv run` asks nothing more of it. To run in shards
(`inv run --shards`, `inv swarm-run`, `inv batch-submit`) a job says, in pyproject.toml under
[tool.dockertasks.job], how:

    output_dir = "/app/output"         # where it writes in the container (the Dockerfile makes it)
    shard_command = ["predict"]        # what each shard runs; it reads SHARD_INDEX and SHARD_COUNT
    merge_command = ["merge"]          # run once when every shard succeeded; leave out: no merge
    parts = "part-*-of-*.csv"          # the files a shard writes, removed before the next sharded run

and, for a job that is not started as the sample's `python src/main.py`, what starts it:

    command = ["python", "-m", "churn"]  # the program; src/ is on the import path in the image
    default_args = ["train"]             # its arguments when `inv run` is given none
    extras = ["train"]                   # pyproject.toml's optional dependency groups the image installs
    dependencies = "pyproject.toml"      # which file wins when a project lists its requirements twice

and its name (`inv init --name` writes it), the image's unless IMAGE_NAME says otherwise:

    name = "churn"

A job that declares no shard_command does not shard, and the sharded tasks say so before any
container starts. The functions here are pure; `read` takes the project's folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from docker_tasks.errors import TaskError
from docker_tasks.tags import PATH_COMPONENT

SECTION = "[tool.dockertasks.job] in pyproject.toml"
SHARD_VARIABLES = ("SHARD_INDEX", "SHARD_COUNT")  # what every engine gives a shard (src/sharding.py)
HOW = "see docs/scaling-out.md, \"The job contract\""
DEFAULT_COMMAND = ("python", "src/main.py")  # the sample's; a job declares its own with `command`
KEYS = ("name", "output_dir", "shard_command", "merge_command", "parts", "command", "default_args", "extras",
        "dependencies")
DEPENDENCY_FILES = ("requirements.txt", "pyproject.toml", "uv.lock")


@dataclass(frozen=True)
class Job:
    output_dir: str = "/app/output"
    shard_command: tuple[str, ...] = ()
    merge_command: tuple[str, ...] = ()
    parts: str = ""
    command: tuple[str, ...] = DEFAULT_COMMAND
    default_args: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    dependencies: str | None = None  # None: whichever file the project has (dependency_source.py)
    name: str | None = None  # None: the tasks' default, app-name

    def describe(self) -> str:
        if not self.shard_command:
            return f"the job writes to {self.output_dir} and does not run in shards (no shard_command in {SECTION})"
        merge = f", then `{' '.join(self.merge_command)}` once" if self.merge_command else ", with no merge step"
        return f"the job writes to {self.output_dir}; each shard runs `{' '.join(self.shard_command)}`{merge}"

    def merges_after(self, command: Iterable[str]) -> bool:
        """Whether shards that ran `command` are merged: they ran the declared shard command."""
        command = list(command)
        return bool(self.merge_command) and bool(command) and command[0] == self.shard_command[0]


EXAMPLES = {"command": '["python", "-m", "churn"]', "default_args": '["train"]', "extras": '["train"]'}
SHARD_EXAMPLE = '["predict"]'


def _command(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(word, str) and word for word in value):
        raise TaskError(f"{key} in {SECTION} must be a list of words, e.g. {key} = {EXAMPLES.get(key, SHARD_EXAMPLE)}")
    return tuple(value)


def from_table(table: dict) -> Job:
    """The contract from the [tool.dockertasks.job] table; a wrong value is a one-line error."""
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise TaskError(f"{SECTION} has unknown keys {', '.join(unknown)}; it knows {', '.join(KEYS[:-1])} and "
                        f"{KEYS[-1]}")
    output_dir = table.get("output_dir", Job.output_dir)
    if not isinstance(output_dir, str) or not PurePosixPath(output_dir).is_absolute() or output_dir == "/":
        raise TaskError(f"output_dir in {SECTION} must be an absolute folder in the container, e.g. \"/app/output\"")
    parts = table.get("parts", "")
    if not isinstance(parts, str) or "/" in parts:
        raise TaskError(f"parts in {SECTION} must be a file pattern in output_dir, e.g. \"part-*-of-*.csv\"")
    shard = _command(table.get("shard_command", []), "shard_command")
    merge = _command(table.get("merge_command", []), "merge_command")
    if merge and not shard:
        raise TaskError(f"{SECTION} has a merge_command but no shard_command; declare what each shard runs")
    command = _command(table.get("command", list(DEFAULT_COMMAND)), "command")
    if not command:
        raise TaskError(f"command in {SECTION} is empty; give the program that starts the job, e.g. "
                        "command = [\"python\", \"-m\", \"churn\"]")
    extras = _command(table.get("extras", []), "extras")
    dependencies = table.get("dependencies")
    if dependencies is not None and dependencies not in DEPENDENCY_FILES:
        raise TaskError(f"dependencies in {SECTION} must name the file the image installs from: "
                        f"{', '.join(repr(name) for name in DEPENDENCY_FILES)}")
    name = table.get("name")
    if name is not None and not (isinstance(name, str) and PATH_COMPONENT.match(name)):
        raise TaskError(f"name in {SECTION} must be one lowercase word of an image name, e.g. name = \"my-model\"; "
                        "`inv init --name` writes it")
    return Job(output_dir=output_dir.rstrip("/"), shard_command=shard, merge_command=merge, parts=parts,
               command=command, default_args=_command(table.get("default_args", []), "default_args"),
               extras=extras, dependencies=dependencies, name=name)


def with_name(pyproject: str, name: str) -> str:
    """pyproject.toml's text with the contract's name set: its line rewritten, else one added at the
    top of the table (a new table when there is none); nothing else changes."""
    header = re.search(r"^\[tool\.dockertasks\.job\][ \t]*(?:#.*)?\n?", pyproject, re.M)
    line = f'name = "{name}"'
    if not header:
        return pyproject.rstrip("\n") + f"\n\n[tool.dockertasks.job]\n{line}\n"
    following = re.search(r"^\[", pyproject[header.end():], re.M)
    end = header.end() + following.start() if following else len(pyproject)
    head, table, rest = pyproject[:header.end()], pyproject[header.end():end], pyproject[end:]
    if re.search(r"^name\s*=.*$", table, re.M):
        table = re.sub(r"^name\s*=.*$", line, table, count=1, flags=re.M)
    else:
        table = f"{line}\n{table}"
    return head + ("" if head.endswith("\n") else "\n") + table + rest


def pyproject_document(root: Path) -> dict:
    """pyproject.toml of the project at `root` ({} when it has none); invalid TOML is a one-line error."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"pyproject.toml is not valid TOML ({exc}); fix it, so the job contract can be read") from None


def read(root: Path) -> Job:
    """The contract of the project at `root`; the defaults when it declares none."""
    return from_table(pyproject_document(root).get("tool", {}).get("dockertasks", {}).get("job", {}))


def job_sources(root: Path) -> dict[str, str]:
    """The job's Python files under src/, by path."""
    return {str(p.relative_to(root)): p.read_text(errors="replace") for p in sorted((root / "src").rglob("*.py"))}


def sharding_problem(job: Job, sources: dict[str, str]) -> str | None:
    """Why the job cannot run in shards, in one line with the fix; None when it can."""
    if not job.shard_command:
        return (f"the job does not run in shards: it declares no shard_command in {SECTION}. Declare the command "
                f"each shard runs, which reads SHARD_INDEX and SHARD_COUNT ({HOW}), or run it once with `inv run`")
    if not any(variable in text for text in sources.values() for variable in SHARD_VARIABLES):
        return (f"nothing in src/ reads SHARD_INDEX or SHARD_COUNT, so every shard would do the whole job; make the "
                f"job take its slice from them ({HOW}), or remove shard_command from {SECTION}")
    return None


def unnamed_commands(job: Job, sources: dict[str, str]) -> list[str]:
    """The declared commands whose first word src/ never writes as a string: likely left over from
    the sample after src/ was replaced (a hint, since a command may be spelled otherwise)."""
    words = [command[0] for command in (job.shard_command, job.merge_command) if command]
    return [w for w in words if not any(f'"{w}"' in text or f"'{w}'" in text for text in sources.values())]


def require_sharding(job: Job, root: Path) -> Job:
    """The contract, when the job at `root` can run in shards; else the one-line reason it cannot."""
    problem = sharding_problem(job, job_sources(root))
    if problem:
        raise TaskError(problem)
    return job
