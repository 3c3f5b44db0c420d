"""What the end of a failed build or lock says, as one line with its fix (pure functions).

A package built from source fails most often for want of a compiler, a header or a config
program from Debian: the error names the missing piece (`pg_config executable not found`,
`Python.h: No such file`), and this module names the packages that supply it, for
build-packages.txt (the builder stage alone), and what the built package loads at run time, for
system-packages.txt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from docker_tasks.errors import STEP_PREFIX, failing_step


@dataclass(frozen=True)
class MissingTool:
    marker: re.Pattern[str]  # how the build's output says it is missing
    what: str  # what is missing, in words
    build: tuple[str, ...]  # Debian packages to build with (build-packages.txt)
    run: tuple[str, ...] = ()  # Debian packages the built package loads (system-packages.txt)


def _any(*alternatives: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives), flags)


# The first that matches wins, so the more particular come first: a missing pg_config also
# makes the compiler's command fail.
MISSING_TOOLS = (
    MissingTool(_any(r"pg_config (executable )?not found", r"pg_config: not found", r"'pg_config'"),
                "pg_config (PostgreSQL's client headers have it)", ("gcc", "libpq-dev"), ("libpq5",)),
    MissingTool(_any(r"mysql_config:? not found", r"'mysql_config'", r"Can not find valid pkg-config name"),
                "mysql_config (MySQL's client headers have it)",
                ("gcc", "pkg-config", "default-libmysqlclient-dev"), ("libmariadb3",)),
    MissingTool(_any(r"libxml/\w+\.h: No such file", r"libxml2 and libxslt", r"xslt-config", r"xml2-config"),
                "libxml2's headers", ("gcc", "libxml2-dev", "libxslt1-dev"), ("libxml2", "libxslt1.1")),
    MissingTool(_any(r"Python\.h: No such file"), "Python.h (the headers of Python)", ("gcc", "python3-dev")),
    MissingTool(_any(r"\b(gcc|cc|[\w-]+-linux-gnu-gcc)\b'?:? (command )?not found", r"command '[\w/.-]*gcc' failed",
                     r"unable to execute '[\w.-]*gcc'", r"error: command '[\w/.-]*(gcc|cc)'",
                     r"No such file or directory: '[\w.-]*gcc'", r"C compiler cannot create",
                     r"no acceptable C compiler"),
                "a C compiler", ("gcc",)),
    MissingTool(_any(r"\b(g\+\+|c\+\+)'?:? (command )?not found", r"unable to execute '[\w.-]*g\+\+'"),
                "a C++ compiler", ("g++",)),
)
# uv's line for a package it could not build or install: `Failed to build `psycopg2==2.9.10``.
FAILED_PACKAGE = re.compile(r"Failed to (?:build|download and build|install|download)\s+`(?P<package>[^`]+)`")
# uv's line that an index could not be reached, and a base image that could not be fetched.
UNREACHABLE_INDEX = _any(r"Failed to fetch", r"Could not connect", r"error sending request for url", r"dns error",
                         r"Connection refused", r"failed to lookup address", r"tcp connect error", r"timed out",
                         flags=re.I)
UNREACHABLE_IMAGE = _any(r"failed to resolve source metadata for", r"pull access denied",
                         r"^#\d+ ERROR: failed to do request")
# `Failed to fetch: `http://host/simple/six/`` (uv quotes it, or not): the index is the URL less its last part.
INDEX_URL = re.compile(r"Failed to fetch:? `?(?P<url>https?://[^\s`]+?)/[^/\s`]+/?(?:`|$)", re.M)
# uv export --locked, when pyproject.toml's dependencies changed since `uv lock` last ran.
STALE_UV_LOCK = re.compile(r"lockfile at `?uv\.lock`? needs to be updated", re.I)
BAD_REQUIREMENT = _any(r"No solution found", r"not found in the package registry", r"no version of",
                       r"Distribution not found", r"Failed to parse", r"is not a valid", flags=re.I)


def _stripped(tail: Sequence[str]) -> list[str]:
    return [re.sub(STEP_PREFIX, "", line).strip() for line in tail]


def failed_package(tail: Sequence[str]) -> str | None:
    """The package the installer names as failing, as it names it (`psycopg2==2.9.10`)."""
    for line in reversed(_stripped(tail)):
        if match := FAILED_PACKAGE.search(line):
            return match["package"]
    return None


def missing_tool(tail: Sequence[str]) -> MissingTool | None:
    text = "\n".join(_stripped(tail))
    return next((tool for tool in MISSING_TOOLS if tool.marker.search(text)), None)


def _words(packages: Sequence[str]) -> str:
    return " and ".join([", ".join(packages[:-1]), packages[-1]] if len(packages) > 1 else packages)


def package_failure(tail: Sequence[str]) -> str | None:
    """`PACKAGE failed to build: CAUSE; add ... to build-packages.txt ...`, when a package failed to
    build or install; None when the output names none."""
    package = failed_package(tail)
    if package is None:
        return None
    name = package.replace("==", " ")
    tool = missing_tool(tail)
    if tool is None:
        cause = _last_error(tail)
        return (f"{name} failed to build or install{f' ({cause})' if cause else ''}; if it builds from source, "
                "the compilers and -dev headers it needs go in build-packages.txt, and its error is in the log")
    run = (f", and {_words(tool.run)} to system-packages.txt, which it loads at run time" if tool.run else "")
    return (f"{name} failed to build from source: {tool.what} was not found. Add {_words(tool.build)} to "
            f"build-packages.txt{run}; then `inv build` again")


def _last_error(tail: Sequence[str]) -> str | None:
    for line in reversed(_stripped(tail)):
        if re.match(r"^(error|Error|ERROR)\b:?", line) and "did not complete successfully" not in line:
            return line[:200]
    return None


def base_unreachable(tail: Sequence[str], base: str, role: str = "which the image is built on") -> str | None:
    """`could not fetch the base image ...`, when that is why the build or lock failed; else None."""
    if not any(UNREACHABLE_IMAGE.search(line) for line in tail):
        return None
    return (f"could not fetch the base image {base}, {role}: check the network and that the image exists, or set "
            "BASE_IMAGE to one this engine has or can pull (a private mirror, say)")


def lock_failure(tail: Sequence[str], base: str, requirements: str = "requirements.txt") -> str:
    """Why `inv lock` failed, in one line with the fix: the base image unreachable, the package
    index unreachable, a package that failed to build for its metadata, or a requirement that
    cannot be met."""
    text = "\n".join(_stripped(tail))
    unreachable = base_unreachable(tail, base, "whose Python `inv lock` resolves for")
    if unreachable:
        return unreachable
    built = package_failure(tail)
    if built:
        return built
    if STALE_UV_LOCK.search(text):
        return ("uv.lock is older than pyproject.toml's dependencies: run `uv lock` to bring it up to date, then "
                "`inv lock` again")
    if UNREACHABLE_INDEX.search(text) and not BAD_REQUIREMENT.search(text):
        url = INDEX_URL.search(text)
        where = f" at {url['url']}" if url else ""
        return (f"could not resolve {requirements}: the package index{where} did not answer; check the network (and "
                "EXTRA_INDEX_URL or the secret index_url, if set), then run `inv lock` again")
    reason = (failing_step(tail) or "the resolver gave no reason").rstrip(".")
    return (f"could not resolve {requirements}: {reason[:400]}; fix the line it names (a version that does not "
            "exist, a typo in a name), then run `inv lock` again")
