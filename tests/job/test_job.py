"""The sample job on the host, as `python src/main.py ...` (the container runs the same file)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import outputs

MAIN = Path(__file__).resolve().parents[2] / "src" / "main.py"


def job(*args, env=None, **kwargs):
    environment = {"PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([sys.executable, str(MAIN), *args], capture_output=True, text=True, env=environment,
                          timeout=120, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("output")
    result = job("train", "--output-dir", str(out), "--n-estimators", "20")
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_model_metrics_and_predictions(trained):
    out, result = trained
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.joblib", "predictions.csv"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.85 and metrics["data"] == "sklearn:breast_cancer"
    assert metrics["n_estimators"] == 20
    assert "train finished" in result.stdout


def test_settings_come_from_the_environment(tmp_path):
    result = job("train", env={"OUTPUT_DIR": str(tmp_path), "N_ESTIMATORS": "5", "RANDOM_SEED": "3"})
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["n_estimators"], metrics["random_seed"]) == (5, 3)


def test_train_on_a_csv(tmp_path):
    data = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    data.to_csv(tmp_path / "train.csv", index=False)
    result = job("train", "--data", str(tmp_path / "train.csv"), "--target", "label",
                 "--output-dir", str(tmp_path / "o"), "--n-estimators", "5")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["data"].endswith("train.csv")


def test_predict_scores_a_csv(trained, tmp_path):
    out, _ = trained
    load_breast_cancer(as_frame=True).data.head(10).to_csv(tmp_path / "new.csv", index=False)
    result = job("predict", "--input", str(tmp_path / "new.csv"), "--model", str(out / "model.joblib"),
                 "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(tmp_path / "new.predictions.csv")
    assert len(scored) == 10 and set(scored["predicted"]) <= {0, 1}


@pytest.mark.parametrize("args, message", [
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required"),
    (["predict", "--input", "/nowhere.csv"], "input file not found: /nowhere.csv"),
    (["train", "--data", "/nowhere.csv"], "input file not found"),
    (["train", "--test-size", "1.5"], "--test-size='1.5' must be between 0 and 1"),
], ids=["unknown-command", "no-command", "missing-input", "missing-data", "bad-test-size"])
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message, tmp_path):
    result = job(*args, "--output-dir", str(tmp_path)) if args else job()
    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert message in output
    assert len(output.splitlines()) == 1 and "Traceback" not in output


def test_a_csv_without_the_model_columns(trained, tmp_path):
    out, _ = trained
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "wrong.csv", index=False)
    result = job("predict", "--input", str(tmp_path / "wrong.csv"), "--model", str(out / "model.joblib"))
    assert result.returncode == 2 and "missing 30 column(s) the model needs" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_csv_without_the_target_column(tmp_path):
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    result = job("train", "--data", str(tmp_path / "t.csv"), "--output-dir", str(tmp_path))
    assert result.returncode == 2 and "no target column 'target'" in result.stdout


def test_a_malformed_setting_names_the_variable(tmp_path):
    result = job("train", env={"TEST_SIZE": "a quarter"})
    assert result.returncode == 2 and "TEST_SIZE='a quarter' is not a number" in result.stderr


def test_sigterm_stops_quickly_and_leaves_no_partial_file(tmp_path):
    process = subprocess.Popen([sys.executable, str(MAIN), "train", "--output-dir", str(tmp_path),
                                "--n-estimators", "100000"], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # wait until training has started
        if "training on" in line:
            break
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 5
    assert "stopped by SIGTERM" in process.stdout.read()
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    outputs.write_json({"v": 1}, target)
    with pytest.raises(KeyboardInterrupt), outputs.atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "trunc')
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_outside_a_container_dotenv_is_loaded_without_overriding(tmp_path, monkeypatch):
    import config

    (tmp_path / ".env").write_text("N_ESTIMATORS=11\nLOG_LEVEL=DEBUG\n")
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.delenv("N_ESTIMATORS", raising=False)
    config.load_dotenv_for_local_runs()
    settings = config.from_environment()
    assert (settings.n_estimators, settings.log_level) == (11, "ERROR")


def test_sharded_predict_and_merge_on_the_host(trained, tmp_path):
    out, _ = trained
    for index in range(3):
        result = job("predict", "--model", str(out / "model.joblib"), "--output-dir", str(tmp_path),
                     env={"SHARD_INDEX": str(index), "SHARD_COUNT": "3"})
        assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("part-*-of-00003.csv"))) == 3
    merged = job("merge", "--output-dir", str(tmp_path))
    assert merged.returncode == 0, merged.stderr
    assert len(pd.read_csv(tmp_path / "predictions-merged.csv")) == len(load_breast_cancer().data)
