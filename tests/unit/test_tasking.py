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
