"""A user forks the template, renames it, drops in a job of their own and ships it."""

import json
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version

from docker_tasks import lockfile
from tests.integration.conftest import git, without_job_contract

NEW_JOB = '''"""A fork's own job: summary statistics of simulated data, with settings from a file."""

import json
import os
import random
from pathlib import Path

from dotenv import dotenv_values

import stats

if __name__ == "__main__":
    rng = random.Random(int(os.environ.get("SEED", "1")))
    values = [rng.gauss(3.0, 2.0) for _ in range(10_000)]
    out = Path(__file__).resolve().parent.parent / "output"
    settings = dotenv_values("/nowhere.env")  # a third-party package the image must hold
    (out / "result.json").write_text(json.dumps({**stats.summarize(values), "settings": settings}))
    print("wrote result.json", flush=True)
'''
NEW_MODULE = '''import statistics


def summarize(values: list[float]) -> dict:
    return {"n": len(values), "mean": statistics.fmean(values), "std": statistics.pstdev(values)}
'''


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_fork_rename_replace_the_job_build_and_run(make_project, engine):
    fork = make_project()
    name = fork.image_name
    ok(fork.inv("init", "--name", name))
    assert f'\nname = "{name}"\n' in (fork.root / "pyproject.toml").read_text()
    assert git(fork.root, "status", "--porcelain", "docker_tasks", "Dockerfile", "Makefile", "tasks.py") == ""
    assert (fork.root / "README.md").read_text().startswith(f"# {name}:")
    assert "already named" in ok(fork.inv("init", "--name", name)).stdout  # idempotent
    unit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not docker", "-p", "no:cacheprovider"],
                          cwd=fork.root, capture_output=True, text=True, timeout=600)
    assert unit.returncode == 0, unit.stdout[-3000:]  # the renamed project's own tests stay green

    shutil.rmtree(fork.root / "src")
    (fork.root / "src").mkdir()
    (fork.root / "src" / "main.py").write_text(NEW_JOB)
    (fork.root / "src" / "stats.py").write_text(NEW_MODULE)
    unmatched = fork.inv("reqs")
    assert unmatched.returncode == 1 and re.search(r"^✗ imported but .*: dotenv$", unmatched.stdout, re.M)
    assert "never imported by src/. If another package loads it" in unmatched.stdout  # kept, and why
    kept = ok(fork.inv("reqs", "--write")).stdout
    assert "+python-dotenv==" in kept and "-six" not in kept  # nothing is removed without --prune
    pruned = ok(fork.inv("reqs", "--write", "--prune")).stdout
    assert "removing " in pruned and "-six==" in pruned
    pinned = [line for line in (fork.root / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert pinned == [f"python-dotenv=={version('python-dotenv')}"]
    assert "wrote requirements.lock" in kept and "- six 1.17.0" in pruned  # --write leaves a lock that matches
    assert lockfile.pins((fork.root / "requirements.lock").read_text()) == {"python-dotenv": version("python-dotenv")}
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "my own job")

    # with IMAGE_NAME unset, the renamed default names the image and its labels
    built = ok(fork.inv("build", env={"IMAGE_NAME": ""}))
    assert f"{name}:{fork.head(True)}" in built.stdout
    assert engine.images.get(f"{name}:latest").labels["dockertasks.project"] == name

    ran = ok(fork.inv("run", "--env", "SEED=7", env={"IMAGE_NAME": ""}))
    assert "wrote result.json" in ran.stdout
    result = json.loads((fork.root / "output" / "result.json").read_text())
    assert result["n"] == 10_000 and 2.8 < result["mean"] < 3.2

    (record_path,) = (fork.root / "output").glob("run-record-*.json")
    record = json.loads(record_path.read_text())
    assert record["image"]["reference"] == f"{name}:latest"
    assert record["image"]["git_sha"] == fork.head() and record["image"]["git_dirty"] is False
    # SEED, and the model cache's variables (docs/tasks.md, "The model cache"); keys, never values
    assert record["env_keys"] == ["HF_HOME", "SEED", "TORCH_HOME", "XDG_CACHE_HOME"]
    assert "7" not in json.dumps(record["env_keys"])
    assert record["exit_code"] == 0 and record["ended_at"] >= record["started_at"]
    listing = ok(fork.inv("runs")).stdout
    assert record["container"] in listing.splitlines()[1]


def test_run_records_carry_the_mounted_inputs(built, engine):
    data = built.root / "inputs"
    data.mkdir(exist_ok=True)
    subprocess.run(["cp", "README.md", "inputs/readme.txt"], cwd=built.root, check=True)
    ok(built.inv("run", "-v", "./inputs:/data:ro", "--", "train", "--n-estimators", "5"))
    record = json.loads(sorted((built.root / "output").glob("run-record-*.json"))[-1].read_text())
    (mounted,) = record["inputs"]
    assert mounted["mounted_at"] == "/data" and mounted["files"] == 1
    assert mounted["bytes"] == (built.root / "README.md").stat().st_size and len(mounted["sha256"]) == 64


SHARDED_JOB = '''"""A fork's job of another shape: each shard counts its share of the words, no merge step."""

import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path("/app/results")

if __name__ == "__main__" and sys.argv[1:2] == ["count"]:
    index, count = int(os.environ["SHARD_INDEX"]), int(os.environ["SHARD_COUNT"])
    words = [f"word{i}" for i in range(100)][index::count]
    (RESULTS / f"chunk-{index}.json").write_text(json.dumps({"shard": index, "words": len(words)}))
    print(f"shard {index} of {count} counted {len(words)} words", flush=True)
'''


def test_a_fork_declares_its_own_job_contract_and_shards_by_it(make_project, engine):
    fork = make_project()
    shutil.rmtree(fork.root / "src")
    (fork.root / "src").mkdir()
    (fork.root / "src" / "main.py").write_text(SHARDED_JOB)
    pyproject = fork.root / "pyproject.toml"
    without_contract = without_job_contract(pyproject.read_text())
    pyproject.write_text(without_contract)
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "my own job, which declares nothing yet")
    ok(fork.inv("build"))
    ours = {"label": f"dockertasks.project={fork.image_name}"}

    for task in (("run", "--shards", "2"), ("run", "--shards", "2", "--dry-run"),
                 ("swarm-run", "--shards", "2", "--image", "r/x:1", "--dry-run"),
                 ("batch-submit", "--shards", "2", "--queue", "q", "--image", "r/x:1", "--dry-run")):
        refused = fork.inv(*task)
        assert refused.returncode == 1, task
        assert refused.stderr.strip().splitlines() == [
            "error: the job does not run in shards: it declares no shard_command in [tool.dockertasks.job] in "
            "pyproject.toml. Declare the command each shard runs, which reads SHARD_INDEX and SHARD_COUNT (see "
            "docs/scaling-out.md, \"The job contract\"), or run it once with `inv run`"], task
    assert engine.containers.list(all=True, filters=ours) == []  # refused before any container started

    pyproject.write_text(without_contract + '\n[tool.dockertasks.job]\noutput_dir = "/app/results"\n'
                         'shard_command = ["count"]\nparts = "chunk-*.json"\n')
    git(fork.root, "commit", "-qam", "declare the job contract")
    doctor = fork.inv("doctor").stdout
    assert "✓ the job writes to /app/results; each shard runs `count`, with no merge step" in doctor
    ok(fork.inv("build"))
    image = f"{fork.image_name}:latest"
    owner = engine.containers.run(image, entrypoint="stat", command=["-c", "%U", "/app/results"], remove=True,
                                  labels={"dockertasks.project": fork.image_name})
    assert owner.decode().strip() == "app"  # the Dockerfile made the declared folder for the job's user

    (fork.root / "output").mkdir(exist_ok=True)
    (fork.root / "output" / "chunk-7.json").write_text("{}")  # a part of an earlier sharded run
    ran = ok(fork.inv("run", "--shards", "2"))
    assert "removed 1 part file(s) of an earlier sharded run" in ran.stdout
    assert "all 2 shards finished" in ran.stdout and "merging" not in ran.stdout
    chunks = {p.name: json.loads(p.read_text()) for p in (fork.root / "output").glob("chunk-*.json")}
    assert chunks == {"chunk-0.json": {"shard": 0, "words": 50}, "chunk-1.json": {"shard": 1, "words": 50}}


def test_system_packages_install_in_a_layer_that_requirements_do_not_rebuild(make_project, engine):
    fork = make_project()
    (fork.root / "system-packages.txt").write_text("# lightgbm and xgboost load it at import\nlibgomp1\n")
    git(fork.root, "commit", "-qam", "a system library")
    ok(fork.inv("build"))
    found = engine.containers.run(f"{fork.image_name}:latest", entrypoint="sh", user="0", remove=True,
                                  command=["-c", "ls /usr/lib/*/libgomp.so.1"],
                                  labels={"dockertasks.project": fork.image_name})
    assert b"libgomp.so.1" in found

    requirements = fork.root / "requirements.txt"
    requirements.write_text(requirements.read_text() + "tomli==2.2.1\n")
    ok(fork.inv("lock"))
    git(fork.root, "commit", "-qam", "one more requirement")
    rebuilt = ok(fork.inv("build")).stdout
    step = re.search(r"^#(\d+) \[[^\]]*\] RUN --mount=type=tmpfs,target=/mnt\s+"
                     r"--mount=type=bind,source=system-packages.txt", rebuilt, re.M)
    assert step and re.search(rf"^#{step.group(1)} CACHED$", rebuilt, re.M), rebuilt[-3000:]


def test_build_check_and_doctor_tell_a_broken_image_from_a_sound_one(make_project):
    fork = make_project()
    main = fork.root / "src" / "main.py"
    sound = main.read_text()
    main.write_text("import yaml  # PyYAML, which requirements.txt leaves out\n" + sound)
    (fork.root / "src" / "typo.py").write_text("def broken(:\n")
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "a job that cannot start")
    broken = fork.inv("build", "--check")
    assert broken.returncode == 1
    line = broken.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {fork.image_name}:") and "is built but broken: importing yaml fails: the image " \
        "has no module yaml; add its package to requirements.txt" in line and "src/typo.py does not compile" in line
    doctor = fork.inv("doctor")
    assert doctor.returncode == 1 and f"✗ {fork.image_name}:latest is broken: importing yaml fails" in doctor.stdout

    main.write_text(sound)
    (fork.root / "src" / "typo.py").unlink()
    git(fork.root, "commit", "-qam", "the job starts again")
    checked = ok(fork.inv("build", "--check")).stdout
    assert "it imports every module src/ imports, and src/ compiles" in checked
    doctor = fork.inv("doctor").stdout
    assert f"✓ {fork.image_name}:latest imports every module src/ imports" in doctor
    assert "✓ requirements.lock matches requirements.txt" in doctor


def test_files_the_job_reads_by_a_relative_path_reach_the_image_when_allowed(make_project):
    fork = make_project()
    (fork.root / "configs").mkdir()
    (fork.root / "configs" / "params.json").write_text('{"alpha": 0.5}')
    main = fork.root / "src" / "main.py"
    main.write_text('import json, pathlib\nprint("alpha is", json.loads(pathlib.Path("configs/params.json")'
                    '.read_text())["alpha"])\n')
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "a job that reads its config by a path relative to the project root")
    local = subprocess.run([sys.executable, "src/main.py"], cwd=fork.root, capture_output=True, text=True)
    assert local.stdout == "alpha is 0.5\n"  # as it runs in the checkout...
    ok(fork.inv("build"))
    left_out = fork.inv("run")
    assert left_out.returncode == 1 and left_out.stderr.strip().endswith(
        "It read 'configs/params.json', which is in your checkout but not in the image: let it in with a line "
        "`!configs/` in .dockerignore, and build again")
    ignore = fork.root / ".dockerignore"
    ignore.write_text(ignore.read_text().replace("!src/\n", "!src/\n!configs/\n"))
    git(fork.root, "commit", "-qam", "let the configs in")
    ok(fork.inv("build"))
    assert "alpha is 0.5" in ok(fork.inv("run")).stdout  # ...so it runs in the container


DISPATCHER = '''"""A fork's entry point that dispatches to its scripts, as many ML projects' tools/ do."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts import each other by name

from tools import evaluate, train

if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["train"]
    sys.exit({"train": train.main, "evaluate": evaluate.main}[command](rest))
'''
TRAIN_SCRIPT = '''import argparse
import csv
import ctypes
import json
from pathlib import Path


def main(argv):
    parser = argparse.ArgumentParser(prog="train")
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    ctypes.CDLL("libgomp.so.1")  # what lightgbm loads: a system library the slim image lacks
    params = json.loads(Path("configs/params.json").read_text())  # relative to the project root
    with open(args.data, newline="") as source:
        rows = list(csv.DictReader(source))
    model = {"mean": sum(float(r["y"]) for r in rows) / len(rows) * params["scale"]}
    Path("output/model.json").write_text(json.dumps(model))
    print(f"trained on {len(rows)} rows", flush=True)
    return 0
'''
EVALUATE_SCRIPT = '''import json
from pathlib import Path


def main(argv):
    model = json.loads(Path("output/model.json").read_text())
    print(f"model mean {model['mean']:.2f}", flush=True)
    return 0
'''


def test_a_fork_of_another_shape_goes_green_end_to_end(make_project, engine):
    """What the README tells a fork to do, timed: a job of another shape, then lint, the tests, build,
    doctor, run, tag and clean."""
    started = time.monotonic()
    fork = make_project()
    shutil.rmtree(fork.root / "src")
    (fork.root / "src" / "tools").mkdir(parents=True)
    (fork.root / "src" / "main.py").write_text(DISPATCHER)
    (fork.root / "src" / "tools" / "__init__.py").write_text("")
    (fork.root / "src" / "tools" / "train.py").write_text(TRAIN_SCRIPT)
    (fork.root / "src" / "tools" / "evaluate.py").write_text(EVALUATE_SCRIPT)
    (fork.root / "configs").mkdir()
    (fork.root / "configs" / "params.json").write_text('{"scale": 2}')
    (fork.root / "system-packages.txt").write_text("libgomp1\n")
    (fork.root / "requirements.txt").write_text("# standard library only\n")
    ok(fork.inv("lock"))
    ignore = fork.root / ".dockerignore"
    ignore.write_text(ignore.read_text().replace("!src/\n", "!src/\n!configs/\n"))
    pyproject = fork.root / "pyproject.toml"
    pyproject.write_text(without_job_contract(pyproject.read_text()))  # it does not shard
    data = fork.root / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "our own job")

    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=fork.root, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    unit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not docker", "-p", "no:cacheprovider"],
                          cwd=fork.root, capture_output=True, text=True, timeout=600)
    assert unit.returncode == 0, unit.stdout[-3000:]
    ok(fork.inv("build", "--check"))
    doctor = ok(fork.inv("doctor")).stdout
    assert "✗" not in doctor and "does not run in shards" in doctor
    ran = ok(fork.inv("run", "--volume", f"{data}:/app/data:ro", "--", "train", "--data", "/app/data/train.csv"))
    assert "trained on 3 rows" in ran.stdout
    assert "model mean 8.00" in ok(fork.inv("run", "--", "evaluate")).stdout
    ok(fork.inv("tag", "--version", "1.0"))
    assert "1.0" in ok(fork.inv("images")).stdout
    ok(fork.inv("clean"))
    print(f"\nthe fork's whole path took {time.monotonic() - started:.0f} s")
