"""Environment for the container: env files with python-dotenv's semantics, and `--env KEY=VAL`.

python-dotenv, not `docker run --env-file`, reads the files, so quotes, `export KEY=...`,
comments and `${VAR}` references mean what they mean in local development.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from docker_tasks.errors import TaskError

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_text(text: str, source: str) -> dict[str, str | None]:
    """Parse env-file text; a line python-dotenv cannot read is an error naming its line."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            shown = binding.original.string.strip().split("=", 1)[0][:40]
            raise TaskError(
                f"{source}, line {line}: cannot parse {shown!r}; write KEY=value, "
                "with quotes around values that contain spaces or '#'"
            )
    return dict(dotenv_values(stream=io.StringIO(text)))


def read_env_file(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        raise TaskError(f"env file not found: {path}; create it (see .env.example) or drop --env-file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"cannot read env file {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return parse_env_text(text, str(path))


def parse_assignment(item: str, host_environ: Mapping[str, str], flag: str = "--env") -> tuple[str, str]:
    """`KEY=VAL` -> (KEY, VAL); a bare `KEY` takes the value from your shell, as `docker run -e` does."""
    key, sep, value = item.partition("=")
    if not KEY_PATTERN.match(key):
        raise TaskError(f"{flag} {key!r}: expected KEY=VALUE with a KEY of letters, digits and '_', "
                        f"e.g. {flag} LOG_LEVEL=DEBUG")
    if not sep:
        if key not in host_environ:
            raise TaskError(f"{flag} {key}: {key} is not set in your shell; give a value, e.g. {flag} {key}=VALUE")
        return key, host_environ[key]
    return key, value


def container_environment(
    env_files: Iterable[Mapping[str, str | None]], assignments: Iterable[str], host_environ: Mapping[str, str],
    withheld: Collection[str] = (),
) -> dict[str, str]:
    """Env files (as read_env_file reads them) in order, then `--env` on top; a key listed without a
    value passes your shell's through.

    Keys in `withheld` (the tasks' own settings and registry credentials) are not taken from the
    files: the job has no use for them, and a password has no business in its environment. A key
    a file leaves empty (`DATA_PATH=`) is left out, so that the job takes its own default rather
    than an empty string; `--env KEY=` still passes an empty value on purpose.
    """
    environment: dict[str, str] = {}
    for env_file in env_files:
        for key, value in env_file.items():
            if key in withheld:
                continue
            if value:
                environment[key] = value
            elif value == "":
                environment.pop(key, None)
            elif key in host_environ:
                environment[key] = host_environ[key]
    environment.update(parse_assignment(item, host_environ) for item in assignments)
    return environment
