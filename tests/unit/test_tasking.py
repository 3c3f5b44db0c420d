import os
import signal
import time

import invoke
import pytest

from docker_tasks.errors import TaskError
from docker_tasks.tasking import Task, arguments_after_double_dash, exits_cleanly


def test_arguments_after_the_double_dash_keep_their_quoting():
    argv = ["inv", "run", "--", "sh", "-c", "echo a b", "--", "x"]
    assert arguments_after_double_dash("sh -c echo a b -- x", argv) == ["sh", "-c", "echo a b", "--", "x"]


def test_without_a_double_dash_in_argv_the_remainder_is_split():
    assert arguments_after_double_dash("predict --input 'x y.csv'", ["inv", "run"]) == ["predict", "--input", "x y.csv"]
    assert arguments_after_double_dash("", ["inv", "run"]) == []


def test_a_task_error_becomes_a_clean_exit_with_its_code():
    @exits_cleanly
    def failing():
        raise TaskError("what happened; what to do", exit_code=3)

    with pytest.raises(invoke.Exit) as stopped:
        failing()
    assert (stopped.value.message, stopped.value.code) == ("error: what happened; what to do", 3)


def task_with(body):
    return Task(body)


def test_short_flags_are_never_a_dash():
    def run(c, env=None, env_file=None):
        pass

    names = {a.name: a.names for a in task_with(run).get_arguments()}
    assert "-" not in names["env_file"]


def test_a_bad_number_is_a_parse_error_not_a_traceback():
    def stop(c, timeout=10):
        pass

    (argument,) = task_with(stop).get_arguments()
    with pytest.raises(invoke.ParseError, match="--timeout expects a whole number, not 'soon'"):
        argument.value = "soon"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_task_as_ctrl_c_does_and_exit_143(signum):
    before = signal.getsignal(signum)
    stopped_cleanly = []

    @exits_cleanly
    def body():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the signal arrives here
        except KeyboardInterrupt:
            os.kill(os.getpid(), signum)  # a second one while it cleans up is ignored
            stopped_cleanly.append(True)
            raise

    with pytest.raises(invoke.Exit) as ended:
        body()
    assert stopped_cleanly == [True]
    assert ended.value.code == 143
    name = signal.Signals(signum).name
    assert ended.value.message == f"error: stopped by {name}; what the task had started is stopped"
    assert signal.getsignal(signum) == before  # handed back


def test_ctrl_c_ends_a_task_with_130_and_one_line():
    @exits_cleanly
    def body():
        raise KeyboardInterrupt

    with pytest.raises(invoke.Exit) as ended:
        body()
    assert ended.value.code == 130 and "stopped by Ctrl-C" in ended.value.message
