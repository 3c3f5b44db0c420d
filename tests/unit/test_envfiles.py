import pytest

from docker_tasks.envfiles import container_environment, parse_assignment, parse_env_text, read_env_file
from docker_tasks.errors import TaskError


def test_dotenv_semantics_quotes_export_comments_and_references():
    text = (
        "# a comment\n"
        "export TOKEN='s3cret value'\n"
        'GREETING="hello # not a comment"\n'
        "PLAIN=x # trailing comment\n"
        "EMPTY=\n"
        "COMBINED=${PLAIN}-y\n"
    )
    assert parse_env_text(text, ".env") == {
        "TOKEN": "s3cret value",
        "GREETING": "hello # not a comment",
        "PLAIN": "x",
        "EMPTY": "",
        "COMBINED": "x-y",
    }


def test_an_invalid_line_is_named_by_number():
    with pytest.raises(TaskError, match=r"\.env, line 2: cannot parse"):
        parse_env_text("GOOD=1\nnot a valid line\n", ".env")


def test_a_missing_env_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(TaskError, match="env file not found"):
        read_env_file(tmp_path / "missing.env")


def test_an_unreadable_env_file_is_one_line(tmp_path):
    path = tmp_path / "binary.env"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TaskError, match="cannot read env file"):
        read_env_file(path)


@pytest.mark.parametrize("item, expected", [
    ("A=1", ("A", "1")),
    ("A=", ("A", "")),
    ("A=b=c", ("A", "b=c")),
    ("FROM_SHELL", ("FROM_SHELL", "shell value")),
])
def test_env_assignments(item, expected):
    assert parse_assignment(item, {"FROM_SHELL": "shell value"}) == expected


@pytest.mark.parametrize("item, message", [
    ("=1", "expected KEY=VALUE"),
    ("1A=1", "expected KEY=VALUE"),
    ("A-B=1", "expected KEY=VALUE"),
    ("UNSET_IN_SHELL", "is not set in your shell"),
])
def test_malformed_env_assignments(item, message):
    with pytest.raises(TaskError, match=message):
        parse_assignment(item, {})


def test_files_then_flags_with_bare_keys_from_the_shell(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=from-a\nB=from-a\nPASSED\n")
    second.write_text("B=from-b\n")
    files = [read_env_file(first), read_env_file(second)]
    environment = container_environment(files, ["C=flag", "A=flag"], {"PASSED": "shell"})
    assert environment == {"A": "flag", "B": "from-b", "PASSED": "shell", "C": "flag"}


def test_an_empty_value_in_a_file_leaves_the_key_out_so_the_job_takes_its_default(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("DATA_PATH=/data/x.csv\nOUTPUT_DIR=\n")
    second.write_text("DATA_PATH=\n")
    files = [read_env_file(first), read_env_file(second)]
    assert container_environment(files, [], {}) == {}
    assert container_environment(files, ["DATA_PATH="], {}) == {"DATA_PATH": ""}  # asked for
