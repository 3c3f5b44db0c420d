"""A failed build or lock, named in one line with its fix, from what BuildKit and uv printed."""

import pytest

from docker_tasks import build_failure

# The end of a real build of psycopg2 from source without PostgreSQL's headers (abridged).
NO_PG_CONFIG = """#10 1.196 error: Failed to build `psycopg2==2.9.13`
#10 1.196   |-> The build backend returned an error
#10 1.196   `-> Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)
#10 1.198          running egg_info
#10 1.198          Error: pg_config executable not found.
#10 1.198          pg_config is required to build psycopg2 from source.  Please add the directory
#10 1.199          If you prefer to avoid building psycopg2 from source, please install the PyPI
#10 1.199 hint: Build failures usually indicate a problem with the package or the build environment
#10 ERROR: process "/bin/sh -c started=..." did not complete successfully: exit code: 1""".splitlines()
NO_PYTHON_H = """#10 1.784 error: Failed to build `psycopg2==2.9.13`
#10 1.785          ./psycopg/psycopg.h:36:10: fatal error: Python.h: No such file or directory
#10 1.785          compilation terminated.
#10 1.785          error: command '/usr/bin/x86_64-linux-gnu-gcc' failed with exit code 1""".splitlines()
NO_COMPILER = """#10 2.1 error: Failed to build `pyahocorasick==2.1.0`
#10 2.1          error: command 'gcc' failed: No such file or directory""".splitlines()
NO_MYSQL = """#10 3.0 error: Failed to build `mysqlclient==2.2.7`
#10 3.0          /bin/sh: 1: mysql_config: not found
#10 3.0          Exception: Can not find valid pkg-config name.""".splitlines()
NO_LIBXML = """#10 3.0 error: Failed to build `lxml==4.9.4`
#10 3.0          src/lxml/includes/etree_defs.h:14:10: fatal error: libxml/xmlversion.h: No such file or
#10 3.0          libxml/xmlversion.h: No such file or directory""".splitlines()


@pytest.mark.parametrize("tail, package, build, run", [
    (NO_PG_CONFIG, "psycopg2 2.9.13", "gcc and libpq-dev", "libpq5"),
    (NO_PYTHON_H, "psycopg2 2.9.13", "gcc and python3-dev", None),
    (NO_COMPILER, "pyahocorasick 2.1.0", "gcc", None),
    (NO_MYSQL, "mysqlclient 2.2.7", "gcc, pkg-config and default-libmysqlclient-dev", "libmariadb3"),
    (NO_LIBXML, "lxml 4.9.4", "gcc, libxml2-dev and libxslt1-dev", "libxml2 and libxslt1.1"),
], ids=["pg_config", "Python.h", "gcc", "mysql_config", "libxml2"])
def test_a_missing_build_tool_names_the_package_and_what_to_add(tail, package, build, run):
    line = build_failure.package_failure(tail)
    assert line.startswith(f"{package} failed to build from source: ") and "\n" not in line
    assert f"Add {build} to build-packages.txt" in line
    assert (f"and {run} to system-packages.txt" in line) if run else "system-packages.txt" not in line


def test_a_failing_package_of_another_cause_is_named_with_its_error():
    tail = ["#10 1.0 error: Failed to build `weird==1.0`", "#10 1.0          RuntimeError: no"]
    line = build_failure.package_failure(tail)
    assert line.startswith("weird 1.0 failed to build or install") and "build-packages.txt" in line


def test_a_build_that_names_no_package_is_left_to_the_general_message():
    assert build_failure.package_failure(["#5 ERROR: failed to compute cache key: not found"]) is None


BASE_UNREACHABLE = ['#2 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/python/manifests/'
                    '3.12-slim": dial tcp: lookup registry-1.docker.io: no such host',
                    "ERROR: failed to solve: python:3.12-slim: failed to resolve source metadata for "
                    "docker.io/library/python:3.12-slim: failed to do request"]
INDEX_UNREACHABLE = ["#8 10.21 error: Request failed after 3 retries in 10.0s",
                     "#8 10.21   cause: Failed to fetch: http://127.0.0.1:9/simple/six/",
                     "#8 0.4   Caused by: error sending request for url (http://127.0.0.1:9/simple/pandas/)",
                     "#8 0.4   Caused by: tcp connect error: Connection refused (os error 111)"]
NO_SUCH_VERSION = ["#8 0.213 error: No solution found when resolving dependencies",
                   "#8 0.213   cause: Because there is no version of pandas==99.0.0 and you require pandas==99.0.0, "
                   "we can conclude that your requirements are unsatisfiable."]

STALE_UV_LOCK = ["#8 0.31 error: The lockfile at `uv.lock` needs to be updated, but `--locked` was provided. To update "
                 "the lockfile, run `uv lock`."]


@pytest.mark.parametrize("tail, start, fix", [
    (BASE_UNREACHABLE, "could not fetch the base image python:3.12-slim", "set BASE_IMAGE"),
    (INDEX_UNREACHABLE, "could not resolve requirements.txt: the package index at http://127.0.0.1:9/simple did "
                        "not answer", "check the network"),
    (NO_SUCH_VERSION, "could not resolve requirements.txt: No solution found when resolving dependencies: Because "
                      "there is no version of pandas==99.0.0", "fix the line it names"),
    (NO_PG_CONFIG, "psycopg2 2.9.13 failed to build from source", "build-packages.txt"),
    (STALE_UV_LOCK, "uv.lock is older than pyproject.toml's dependencies", "run `uv lock`"),
], ids=["base-image", "index", "bad-requirement", "package-build", "stale-uv-lock"])
def test_inv_lock_tells_an_unreachable_image_or_index_from_a_bad_requirement(tail, start, fix):
    line = build_failure.lock_failure(tail, "python:3.12-slim")
    assert line.startswith(start) and fix in line and "\n" not in line
    if tail is not NO_SUCH_VERSION:
        assert "a version that does not exist" not in line
