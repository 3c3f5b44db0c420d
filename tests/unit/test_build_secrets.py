from pathlib import Path

import pytest

from docker_tasks import build_secrets, commands
from docker_tasks.build_secrets import BuildSecret
from docker_tasks.errors import TaskError


def test_a_secret_from_a_variable_or_a_file(tmp_path):
    (tmp_path / "token").write_text("t0ken")
    assert build_secrets.parse("id=index_url,env=PRIVATE_INDEX_URL", tmp_path) == BuildSecret(
        "index_url", env="PRIVATE_INDEX_URL")
    from_file = build_secrets.parse("src=token,id=hub", tmp_path)
    assert from_file == BuildSecret("hub", src=tmp_path / "token")
    assert from_file.flag == f"id=hub,src={tmp_path / 'token'}"


@pytest.mark.parametrize("spec, says", [
    ("index_url", "not in BuildKit's form"),
    ("id=x,env=A,src=f", "one of env= or src="),
    ("env=A", "give an id"),
    ("id=x,type=env", "not in BuildKit's form"),
    ("id=a b,env=A", "the id may hold"),
    ("id=x,env=1A", "not an environment variable's name"),
    ("id=x,src=missing", "there is no file"),
    ("id=x,env=A,env=B", "not in BuildKit's form"),
])
def test_a_malformed_secret_is_refused_in_one_line(spec, says, tmp_path):
    with pytest.raises(TaskError, match=says):
        build_secrets.parse(spec, tmp_path)


def test_a_secret_given_twice_is_refused(tmp_path):
    with pytest.raises(TaskError, match="id=x is given twice"):
        build_secrets.parse_all(["id=x,env=A", "id=x,env=B"], tmp_path)


def test_values_come_from_the_environment_then_dotenv_and_a_missing_one_is_named():
    secrets = [BuildSecret("a", env="A"), BuildSecret("b", env="B"), BuildSecret("c", src=Path("/f"))]
    assert build_secrets.values_for(secrets, {"A": "1"}, {"A": "not this", "B": "2"}) == {"A": "1", "B": "2"}
    with pytest.raises(TaskError, match="B is not set, in the environment or in .env") as refused:
        build_secrets.values_for(secrets, {"A": "1"}, {})
    assert "never on the command line" in str(refused.value)


def test_the_build_command_names_where_secrets_are_never_their_values():
    argv = commands.buildx_build(Path("/repo"), ["app:1"], {}, {}, secrets=["id=index_url,env=PRIVATE_INDEX_URL"])
    assert argv[-3:] == ["--secret", "id=index_url,env=PRIVATE_INDEX_URL", "/repo"]
