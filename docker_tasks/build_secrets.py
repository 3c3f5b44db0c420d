"""Build secrets: values a Dockerfile's `RUN --mount=type=secret` reads during the build, and which
reach no layer, no history, no label and no output (pure functions).

`inv build --secret id=index_url,env=PRIVATE_INDEX_URL` takes the value from the environment
variable (or `.env`); `--secret id=hub_token,src=~/.hub-token` from a file. BuildKit mounts it
as a file for the one step that asks for it, and hands it over only by its id: the command
line, which a dry run prints, names the variable or the file, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from docker_tasks.errors import TaskError

FORM = "--secret id=NAME,env=VARIABLE or --secret id=NAME,src=FILE, e.g. --secret id=index_url,env=PRIVATE_INDEX_URL"
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BuildSecret:
    id: str
    env: str | None = None  # the environment variable (or .env entry) that holds the value
    src: Path | None = None  # or the file that holds it

    @property
    def flag(self) -> str:
        """The value of buildx's --secret: where the value is, not the value."""
        return f"id={self.id},env={self.env}" if self.env else f"id={self.id},src={self.src}"


def parse(spec: str, cwd: Path) -> BuildSecret:
    """`id=NAME,env=VARIABLE` or `id=NAME,src=FILE` (a relative file is taken from `cwd`)."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, equals, value = item.partition("=")
        if not equals or not value or key not in {"id", "env", "src"} or key in fields:
            raise TaskError(f"--secret {spec!r} is not in BuildKit's form; use {FORM}")
        fields[key] = value
    if "id" not in fields or len(fields.keys() & {"env", "src"}) != 1:
        raise TaskError(f"--secret {spec!r}: give an id and one of env= or src=; use {FORM}")
    if not _ID.match(fields["id"]):
        raise TaskError(f"--secret {spec!r}: the id may hold letters, digits, '_', '.' and '-'")
    if "env" in fields:
        if not _VARIABLE.match(fields["env"]):
            raise TaskError(f"--secret {spec!r}: {fields['env']!r} is not an environment variable's name")
        return BuildSecret(fields["id"], env=fields["env"])
    path = (cwd / Path(fields["src"]).expanduser()).resolve()
    if not path.is_file():
        raise TaskError(f"--secret {spec}: there is no file {path}; give the file that holds the secret")
    return BuildSecret(fields["id"], src=path)


def values_for(secrets: Sequence[BuildSecret], environ: Mapping[str, str],
               dotenv: Mapping[str, str | None]) -> dict[str, str]:
    """The environment the build command needs for the `env=` secrets: each variable from the
    environment, else from .env (which the docker command does not read itself)."""
    found: dict[str, str] = {}
    for secret in secrets:
        if secret.env:
            value = environ.get(secret.env) or dotenv.get(secret.env)
            if not value:
                raise TaskError(f"--secret id={secret.id},env={secret.env}: {secret.env} is not set, in the "
                                "environment or in .env; set it there (never on the command line, which others "
                                "can read)")
            found[secret.env] = value
    return found


def parse_all(specs: Sequence[str], cwd: Path) -> list[BuildSecret]:
    secrets = [parse(spec, cwd) for spec in specs]
    ids = [secret.id for secret in secrets]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise TaskError(f"--secret id={repeated[0]} is given twice; give each secret once")
    return secrets
