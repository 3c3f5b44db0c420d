import pytest

from docker_tasks.tasks import starter

CONTRACT = ('[tool.dockertasks.job]\n# the contract\nname = "{name}"\noutput_dir = "/app/output"\n\n'
            '[tool.ruff]\nname = "x"\n')
TEXTS = {
    "pyproject.toml": CONTRACT.format(name="app-name"),
    ".env.example": "# e.g. registry.example.com/team/app-name\nIMAGE_NAME=app-name\nOTHER=app-names\n",
    "README.md": "# app-name: a job\n\nRun app-name:latest.\n",
    ".env": "export IMAGE_NAME='app-name'\nNOTE=app-name\n",
}


def test_rename_touches_only_where_the_name_stands_for_the_project():
    plan = starter.rename_plan(TEXTS, "app-name", "my-model")
    assert plan == {
        "pyproject.toml": CONTRACT.format(name="my-model"),
        ".env.example": "# e.g. registry.example.com/team/my-model\nIMAGE_NAME=my-model\nOTHER=app-names\n",
        "README.md": "# my-model: a job\n\nRun app-name:latest.\n",
        ".env": "export IMAGE_NAME='my-model'\nNOTE=app-name\n",
    }


@pytest.mark.parametrize("pyproject, renamed", [
    ("[tool.ruff]\nline-length = 120\n",
     '[tool.ruff]\nline-length = 120\n\n[tool.dockertasks.job]\nname = "my-model"\n'),
    ('[tool.dockertasks.job]\noutput_dir = "/out"\n[tool.x]\nname = "y"\n',
     '[tool.dockertasks.job]\nname = "my-model"\noutput_dir = "/out"\n[tool.x]\nname = "y"\n'),
    ("[tool.dockertasks.job]", '[tool.dockertasks.job]\nname = "my-model"\n'),
], ids=["no-contract", "contract-without-name", "header-alone"])
def test_the_name_goes_into_the_job_contract_alone(pyproject, renamed):
    from docker_tasks import job

    assert job.with_name(pyproject, "my-model") == renamed
    assert job.from_table(job.tomllib.loads(renamed)["tool"]["dockertasks"]["job"]).name == "my-model"


def test_rename_is_idempotent():
    once = {**TEXTS, **starter.rename_plan(TEXTS, "app-name", "my-model")}
    assert starter.rename_plan(once, "my-model", "my-model") == {}


def test_init_dry_run_writes_nothing(tmp_path, capsys):
    for path, text in TEXTS.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    starter.init(tmp_path, old="app-name", new="my-model", dry_run=True)
    assert "+IMAGE_NAME=my-model" in capsys.readouterr().out
    assert all((tmp_path / p).read_text() == t for p, t in TEXTS.items())
    starter.init(tmp_path, old="app-name", new="my-model", dry_run=False)
    assert (tmp_path / "README.md").read_text().startswith("# my-model")


@pytest.mark.parametrize("rules, path, excluded", [
    (["*", "!src/"], ".env", True),
    (["*", "!.env"], ".env", False),
    ([".env*", "!.env.example"], ".env.example", False),
    (["**/.env"], ".env", True),
    (["data/"], ".env", False),
    ([], ".env", False),
])
def test_dockerignore_rules(rules, path, excluded):
    assert starter.dockerignore_excludes(rules, path) is excluded


def test_env_checks_warn_but_never_fail_on_keys_that_have_defaults(tmp_path):
    (tmp_path / ".env.example").write_text("A=\nB=\n")
    assert [c.passed for c in starter.env_file_checks(tmp_path)] == [None]
    (tmp_path / ".env").write_text("A=1\nC=3\n")
    checks = starter.env_file_checks(tmp_path)
    assert [(c.passed, c.what) for c in checks] == [
        (None, ".env leaves out B, which take their defaults"),
        (None, ".env has keys .env.example does not document: C"),
    ]
    (tmp_path / ".env").write_text("A=1\nB=2\n")
    assert [c.passed for c in starter.env_file_checks(tmp_path)] == [True]


def test_env_checks_say_that_an_empty_job_setting_is_left_out(tmp_path):
    (tmp_path / ".env.example").write_text("DATA_PATH=\nREGISTRY=\n")
    (tmp_path / ".env").write_text("DATA_PATH=\nREGISTRY=\n")
    lines = [c.line() for c in starter.env_file_checks(tmp_path)]
    assert lines[1] == ("! .env leaves DATA_PATH empty, so `inv run` does not pass them and the job takes its own "
                        "defaults — give them a value, or delete the lines")  # REGISTRY is the tasks' own


def test_check_lines_carry_the_fix_only_when_failing():
    assert starter.Check(True, "fine", "do x").line() == "✓ fine"
    assert starter.Check(False, "broken", "do x").line() == "✗ broken — do x"
    assert starter.Check(None, "odd", "do y").line() == "! odd — do y"


class FakeEngine:
    """The engine module's surface that doctor uses, answering as an old engine would: its raw answers."""

    def __init__(self, version="26.1.5", store="containerd", buildx="0.13.1", reachable=True):
        self.engine_version, self.store, self.buildx, self.reachable = version, store, buildx, reachable

    def connect(self):
        if not self.reachable:
            raise starter.TaskError("cannot reach the Docker engine at unix:///var/run/docker.sock (refused)")
        return object()

    def info(self, client):
        snapshotter = [["driver-type", "io.containerd.snapshotter.v1"]] if self.store == "containerd" else []
        return {"Driver": "overlayfs", "DriverStatus": snapshotter}

    def version(self, client):
        return {"Version": self.engine_version, "ApiVersion": "1.45"}

    def builder_reports(self):
        return f"github.com/docker/buildx v{self.buildx} 1234abc", "Name: default\nBuildKit version: v0.0.0+unknown\n"


def test_doctor_shows_the_engine_its_store_and_the_builder():
    lines = [c.line() for c in starter.engine_checks(FakeEngine())]
    assert lines == ["✓ Docker Engine 26.1.5 (API 1.45), the containerd image store",
                     "✓ buildx 0.13.1, BuildKit built into the engine (it does not report its version)"]


def test_doctor_refuses_an_engine_older_than_the_tasks_need():
    (engine_line, _) = [c.line() for c in starter.engine_checks(FakeEngine(version="19.03.15"))]
    assert engine_line.startswith("✗ Docker Engine 19.03.15 (API 1.45), the containerd image store — Docker Engine "
                                  "19.03.15 is older than 20.10, the oldest these tasks work with")
    assert "upgrade Docker to 20.10 or newer" in engine_line


def test_doctor_says_why_it_cannot_see_the_engine():
    (engine_line, builder_line) = [c.line() for c in starter.engine_checks(FakeEngine(reachable=False))]
    assert engine_line.startswith("✗ cannot reach the Docker engine")
    assert builder_line.startswith("✓ buildx 0.13.1")


def job_project(tmp_path, contract: str, source: str):
    (tmp_path / "pyproject.toml").write_text(f"[tool.dockertasks.job]\n{contract}")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text(source)
    return tmp_path


def test_doctor_shows_the_job_contract(tmp_path):
    source = 'import os\nos.environ["SHARD_INDEX"]\nif a == "score": 1\n'
    root = job_project(tmp_path, 'shard_command = ["score"]\n', source)
    assert [c.line() for c in starter.job_checks(root)] == [
        "✓ the job writes to /app/output; each shard runs `score`, with no merge step"]


def test_doctor_says_what_a_fork_s_job_lacks_to_shard(tmp_path):
    root = job_project(tmp_path, 'shard_command = ["predict"]\nmerge_command = ["merge"]\n', "print('my own job')\n")
    lines = [c.line() for c in starter.job_checks(root)]
    assert lines[0].startswith("✗ nothing in src/ reads SHARD_INDEX or SHARD_COUNT, so every shard would do the")
    assert lines[1:] == [f"! `{w}`, a command of the job contract, appears nowhere in src/ as a string — declare your "
                         "job's own commands in [tool.dockertasks.job] in pyproject.toml, or leave them out if it does "
                         "not shard" for w in ("predict", "merge")]


def test_doctor_takes_a_job_that_does_not_shard_as_it_is(tmp_path):
    root = job_project(tmp_path, "", "print('my own job')\n")
    (check,) = starter.job_checks(root)
    assert check.passed and "does not run in shards" in check.what


@pytest.mark.parametrize("text, line", [
    ("# only comments\n\n", "✓ system packages the image installs (system-packages.txt): none"),
    ("libgomp1  # lightgbm\nlibpq5=15.8-0+deb12u1\n",
     "✓ system packages the image installs (system-packages.txt): libgomp1, libpq5=15.8-0+deb12u1"),
    ("libgomp1\napt-get install libpq5\n", "✗ system-packages.txt, line 2: 'apt-get install libpq5' is not a Debian "
                                          "package name — write one package a line, e.g. libgomp1, or "
                                          "libgomp1=VERSION to pin its version"),
], ids=["empty", "two", "a-command"])
def test_doctor_reads_the_system_packages(tmp_path, text, line):
    (tmp_path / "system-packages.txt").write_text(text)
    assert starter.system_package_check(tmp_path).line() == line


def test_doctor_misses_the_system_packages_file(tmp_path):
    assert starter.system_package_check(tmp_path).line().startswith("✗ system-packages.txt is missing")


def test_doctor_reads_the_build_packages(tmp_path):
    (tmp_path / "build-packages.txt").write_text("gcc\nlibpq-dev  # psycopg2 from source\n")
    assert starter.system_package_check(tmp_path, "build-packages.txt").line() == (
        "✓ packages the builder stage alone installs, to build from source (build-packages.txt): gcc, libpq-dev")
