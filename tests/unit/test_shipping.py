
import pytest

from docker_tasks import settings
from docker_tasks.errors import TaskError
from docker_tasks.settings import Settings
from docker_tasks.tasks import shipping


@pytest.fixture
def project(tmp_path):
    return Settings(image_name="app", base_image="py", registry=None, root=tmp_path)


def with_dotenv(project, text: str) -> Settings:
    (project.root / ".env").write_text(text)
    return settings.load({}, project.root, image_name=project.image_name)


def never(*_):
    raise AssertionError("should not ask")


def test_credentials_from_the_environment(project):
    environ = {"REGISTRY_USERNAME": "me", "REGISTRY_TOKEN": "tok"}
    assert shipping.credentials(environ, project, interactive=True, ask=never, ask_secret=never) == ("me", "tok")


def test_credentials_from_dotenv(project):
    project = with_dotenv(project, "REGISTRY_USERNAME=me\nREGISTRY_PASSWORD='p w'\n")
    assert shipping.credentials({}, project, interactive=False, read_stdin=never) == ("me", "p w")


def test_credentials_prompted_in_a_terminal(project):
    assert shipping.credentials({}, project, interactive=True, ask=lambda _: "me",
                                ask_secret=lambda _: "secret") == ("me", "secret")


def test_the_password_from_standard_input_without_a_terminal(project):
    assert shipping.credentials({"REGISTRY_USERNAME": "me"}, project, interactive=False,
                                read_stdin=lambda: "piped\n") == ("me", "piped")


def test_without_a_terminal_a_user_name_is_required(project):
    with pytest.raises(TaskError, match="set REGISTRY_USERNAME"):
        shipping.credentials({}, project, interactive=False, read_stdin=lambda: "x\n")


def test_an_empty_password_is_refused(project):
    with pytest.raises(TaskError, match="a user name and a password or token are needed"):
        shipping.credentials({"REGISTRY_USERNAME": "me"}, project, interactive=False, read_stdin=lambda: "\n")
