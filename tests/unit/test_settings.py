import pytest

from docker_tasks import settings
from docker_tasks.errors import TaskError

PROJECT = settings.DEFAULTS["IMAGE_NAME"]  # app-name: a project whose contract names none


@pytest.mark.parametrize("flag, environ, dotenv, expected", [
    ("flag", {"IMAGE_NAME": "env"}, {"IMAGE_NAME": "dotenv"}, "flag"),
    (None, {"IMAGE_NAME": "env"}, {"IMAGE_NAME": "dotenv"}, "env"),
    (None, {}, {"IMAGE_NAME": "dotenv"}, "dotenv"),
    (None, {"IMAGE_NAME": ""}, {"IMAGE_NAME": ""}, PROJECT),
], ids=["flag-wins", "then-env", "then-dotenv", "then-default"])
def test_flag_then_environment_then_dotenv_then_default(flag, environ, dotenv, expected):
    assert settings.resolve("IMAGE_NAME", flag, environ, dotenv) == expected


def test_load_reads_dotenv_from_the_project_root(tmp_path):
    (tmp_path / ".env").write_text("IMAGE_NAME=registry.example.com/team/model\nREGISTRY=registry.example.com\n")
    loaded = settings.load({}, root=tmp_path, base_image="local/python:3.11-slim")
    assert loaded.image_name == "registry.example.com/team/model"
    assert loaded.project == "model"
    assert loaded.base_image == "local/python:3.11-slim"
    assert loaded.registry == "registry.example.com"


def test_defaults_without_dotenv(tmp_path):
    loaded = settings.load({}, root=tmp_path)
    assert (loaded.image_name, loaded.base_image, loaded.registry) == (PROJECT, None, None)  # the Dockerfile's pin


def test_the_job_contract_names_the_project_unless_image_name_says_otherwise(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dockertasks.job]\nname = "churn"\n')
    assert settings.load({}, root=tmp_path).image_name == "churn"
    assert settings.load({"IMAGE_NAME": "registry.example.com/team/churn"}, root=tmp_path).image_name \
        == "registry.example.com/team/churn"
    (tmp_path / "pyproject.toml").write_text('[tool.dockertasks.job]\nname = "Churn Model"\n')
    with pytest.raises(TaskError, match="^name in .* must be one lowercase word"):
        settings.load({}, root=tmp_path)


def test_a_broken_dotenv_is_a_clear_error(tmp_path):
    (tmp_path / ".env").write_text("IMAGE_NAME=x\nthis is not an assignment\n")
    with pytest.raises(TaskError, match="line 2"):
        settings.load({}, root=tmp_path)


def test_push_compression_is_gzip_unless_zstd_is_asked_for(tmp_path):
    assert settings.load({}, tmp_path).push_compression == "gzip"
    assert settings.load({"PUSH_COMPRESSION": "ZSTD"}, tmp_path).push_compression == "zstd"
    with pytest.raises(TaskError, match="PUSH_COMPRESSION 'lz4': give gzip .* or zstd"):
        settings.load({"PUSH_COMPRESSION": "lz4"}, tmp_path)


def test_an_extra_index_reaches_the_lock_and_the_build_and_never_with_credentials(tmp_path):
    loaded = settings.load({"EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}, tmp_path)
    assert loaded.index_and_base_args == {"EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}
    assert settings.load({}, tmp_path).index_and_base_args == {}
    with pytest.raises(TaskError, match="carries credentials"):
        settings.load({"EXTRA_INDEX_URL": "https://me:token@pypi.example.com/simple"}, tmp_path)
    with pytest.raises(TaskError, match="give the index's URL"):
        settings.load({"EXTRA_INDEX_URL": "download.pytorch.org/whl/cpu"}, tmp_path)
