"""The `@task` decorator for tasks.py: Invoke's, plus clean errors and saner short flags."""

from __future__ import annotations

import functools

import invoke

from docker_tasks.errors import TaskError


class Task(invoke.Task):
    """Invoke's Task, except that an automatic short flag is never '-' (`--env-file` got `--`)."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, taken_names | {"-"})


def exits_cleanly(body):
    """A TaskError ends the task with one line on stderr and its exit code, not a traceback."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except TaskError as exc:
            raise invoke.Exit(f"error: {exc}", code=exc.exit_code) from None

    return wrapper


def task(*args, **kwargs):
    """Use as `@task(help={...})`, like Invoke's."""

    def decorate(body):
        return invoke.task(*args, klass=Task, **kwargs)(exits_cleanly(body))

    return decorate
