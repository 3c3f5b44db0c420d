"""The `@task` decorator for tasks.py: Invoke's, plus clean errors and saner short flags."""

from __future__ import annotations

import contextlib
import functools
import shlex
import signal
import threading

import invoke

from docker_tasks.errors import Stopped, TaskError, interruption


class CheckedArgument(invoke.parser.Argument):
    """A flag whose bad value (`--timeout soon`) is a one-line parse error, not a traceback."""

    def set_value(self, value, cast=True):
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            kind = "a whole number" if self.kind is int else f"a {self.kind.__name__}"
            raise invoke.ParseError(f"error: --{self.name} expects {kind}, not {value!r}") from None


class Task(invoke.Task):
    """Invoke's Task with two fixes: an automatic short flag is never '-' (`--env-file` got `--`),
    and flag values that do not convert end in a clean error."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, taken_names | {"-"})

    def get_arguments(self, ignore_unknown_help=None):
        arguments = super().get_arguments(ignore_unknown_help)
        for argument in arguments:
            argument.__class__ = CheckedArgument
        return arguments


STOPPING_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def stops_on_signals():
    """SIGTERM and SIGHUP raise Stopped where the task is, as SIGINT raises KeyboardInterrupt, so that
    a task stops what it started (containers, Swarm services) for either. Once: a second signal
    while it cleans up is ignored (SIGKILL still ends it)."""
    def stop(signum, frame):
        for name in STOPPING_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise Stopped(signum)

    handled = [getattr(signal, name) for name in STOPPING_SIGNALS if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield
        return
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def exits_cleanly(body):
    """A TaskError ends the task with one line on stderr and its exit code, not a traceback; so
    does Ctrl-C, SIGTERM or SIGHUP, once the task has stopped what it started (errors.interruption)."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        try:
            with stops_on_signals():
                return body(*args, **kwargs)
        except TaskError as exc:
            raise invoke.Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt as stop:
            how, code = interruption(stop)
            raise invoke.Exit(f"error: stopped by {how}; what the task had started is stopped", code=code) from None

    return wrapper


def task(*args, **kwargs):
    """Use as `@task` or `@task(help={...})`, like Invoke's."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return task()(args[0])

    def decorate(body):
        return invoke.task(*args, klass=Task, **kwargs)(exits_cleanly(body))

    return decorate


def arguments_after_double_dash(remainder: str, argv: list[str]) -> list[str]:
    """What follows `--`, as separate arguments.

    Invoke hands tasks that text joined with spaces (`c.remainder`), which loses the quoting of
    `-- sh -c 'echo a b'`; the process's own argv still has every argument intact.
    """
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return shlex.split(remainder)
