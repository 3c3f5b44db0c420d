"""The image's entrypoint (docker_tasks/launcher/run_job.py), run here as the image runs it: a real
job in a subprocess, a real HTTP server standing in for S3's presigned GET and POST."""

import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from docker_tasks.launcher import run_job

LAUNCHER = Path(run_job.__file__)


@pytest.fixture
def s3():
    """GET /files/NAME answers with the file's bytes; POST keeps each multipart body it is sent."""
    files, posted = {}, []

    class S3(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            if name not in files:
                self.send_error(403, "Forbidden")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[name])))
            self.end_headers()
            self.wfile.write(files[name])

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.append((self.headers["Content-Type"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), S3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", files, posted
    server.shutdown()


def launch(tmp_path, job: str, *args: str, env=None, output_dir=None) -> subprocess.CompletedProcess:
    """run-job with a settings file whose command is a Python job given as source."""
    script = tmp_path / "job.py"
    script.write_text(job)
    output = output_dir or tmp_path / "output"
    settings = tmp_path / "run-job"
    settings.write_text(f"command={sys.executable} {script}\ndefault_args=--default\noutput_dir={output}\n")
    return subprocess.run([*launcher(settings), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, timeout=60)


def launcher(settings: Path) -> list[str]:
    """run-job as a command line, reading the given settings file instead of the image's."""
    runner = f"import sys; sys.path.insert(0, {str(LAUNCHER.parent)!r}); import run_job, pathlib; " \
             f"sys.exit(run_job.main(sys.argv[1:], settings_file=pathlib.Path({str(settings)!r})))"
    return [sys.executable, "-c", runner]


def test_the_launcher_reads_the_variables_batch_submit_sets():
    """The launcher runs in the image, without docker_tasks, so it names them again."""
    from docker_tasks import batch

    assert (run_job.DOWNLOAD_VARIABLE, run_job.UPLOAD_VARIABLE) == (batch.DOWNLOAD_VARIABLE, batch.UPLOAD_VARIABLE)


def test_settings_are_the_contracts_command_arguments_and_folder():
    settings = run_job.read_settings("command=python -m 'my job'\ndefault_args=train --fast\noutput_dir=/data/out\n")
    assert settings == {"command": ["python", "-m", "my job"], "default_args": ["train", "--fast"],
                        "output_dir": "/data/out"}
    assert run_job.job_argv(["python", "x.py"], ["train"], []) == ["python", "x.py", "train"]
    assert run_job.job_argv(["python", "x.py"], ["train"], ["predict"]) == ["python", "x.py", "predict"]


def test_without_batchs_variables_the_launcher_becomes_the_job(tmp_path):
    """exec: the same process, so `docker stop` signals the job itself; default args when none given."""
    job = "import os, sys; print('pid', os.getpid(), 'args', sys.argv[1:])"
    result = launch(tmp_path, job)
    assert result.returncode == 0, result.stderr
    assert "args ['--default']" in result.stdout and result.stderr == ""
    assert "args ['predict', '--x']" in launch(tmp_path, job, "predict", "--x").stdout


def test_the_jobs_exit_status_is_the_containers(tmp_path, s3):
    url, _, posted = s3
    upload = json.dumps({"url": f"{url}/bucket", "fields": {}, "prefix": "runs/1/"})
    assert launch(tmp_path, "raise SystemExit(3)").returncode == 3
    failed = launch(tmp_path, "raise SystemExit(2)", env={"OUTPUT_UPLOAD": upload})
    assert failed.returncode == 2 and posted == []  # a failed job uploads nothing


def test_files_sent_along_arrive_before_the_job_and_outputs_go_up_after_it(tmp_path, s3):
    url, files, posted = s3
    files["model.joblib"] = b"x" * (3 * run_job.CHUNK + 5)
    out = tmp_path / "output"
    job = f"""import pathlib
out = pathlib.Path({str(out)!r})
print("model has", len((out / "model.joblib").read_bytes()), "bytes")
(out / "scores.csv").write_text("row,score\\n1,0.5\\n")
(out / "sub").mkdir()
(out / "sub" / "part.csv").write_text("a\\n")
(out / ".scores.csv.partial").write_text("half")
"""
    env = {"INPUT_DOWNLOAD": json.dumps({"model.joblib": f"{url}/files/model.joblib"}),
           "OUTPUT_UPLOAD": json.dumps({"url": f"{url}/bucket", "fields": {"policy": "p0l1cy"},
                                        "prefix": "runs/job-1/"})}
    result = launch(tmp_path, job, env=env)
    assert result.returncode == 0, result.stderr
    assert f"model has {3 * run_job.CHUNK + 5} bytes" in result.stdout
    assert f"run-job: received model.joblib into {out}" in result.stderr
    assert f"run-job: uploaded 2 file(s) from {out}" in result.stderr
    keys = sorted(re.search(rb'name="key"\r\n\r\n([^\r]+)', body).group(1).decode() for _, body in posted)
    assert keys == ["runs/job-1/scores.csv", "runs/job-1/sub/part.csv"]  # not the model it was sent, nor hidden files
    content_type, body = posted[0]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'name="policy"\r\n\r\np0l1cy' in body and body.endswith(b"row,score\n1,0.5\n\r\n--"
                                                                     + content_type.split("=")[1].encode() + b"--\r\n")


def test_a_file_that_cannot_be_fetched_stops_before_the_job_in_one_line(tmp_path, s3):
    url, _, _ = s3
    sent_along = json.dumps({"gone.csv": f"{url}/files/gone.csv"})
    result = launch(tmp_path, "print('the job ran')", env={"INPUT_DOWNLOAD": sent_along})
    assert result.returncode == run_job.EXIT_TRANSPORT and "the job ran" not in result.stdout
    assert result.stderr.strip() == ("run-job: could not fetch gone.csv, sent along with --file: HTTP 403 Forbidden; "
                                     "the job did not run")
    assert not list((tmp_path / "output").glob("*"))  # no partial file left


def test_a_name_sent_along_cannot_climb_out_of_the_output_folder(tmp_path, s3):
    url, files, _ = s3
    files["evil.csv"] = b"1\n"
    result = launch(tmp_path, "pass", env={"INPUT_DOWNLOAD": json.dumps({"../../evil.csv": f"{url}/files/evil.csv"})})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output" / "evil.csv").read_bytes() == b"1\n" and not (tmp_path.parent / "evil.csv").exists()


def test_malformed_variables_and_a_missing_command_are_one_line_each(tmp_path):
    bad = launch(tmp_path, "pass", env={"OUTPUT_UPLOAD": "{nope"})
    assert bad.returncode == 2 and bad.stderr.startswith("run-job: OUTPUT_UPLOAD is not JSON")
    partial = launch(tmp_path, "pass", env={"OUTPUT_UPLOAD": json.dumps({"url": "http://x"})})
    assert partial.returncode == 2 and "needs url, fields and prefix" in partial.stderr
    missing = run_job.main([], environ={}, settings_file=tmp_path / "absent")
    assert missing == 2


def test_an_unreachable_bucket_fails_the_container_after_the_job(tmp_path):
    upload = json.dumps({"url": "http://127.0.0.1:9/bucket", "fields": {}, "prefix": "p/"})
    result = launch(tmp_path, f"import pathlib; p = pathlib.Path({str(tmp_path / 'output')!r}); p.mkdir(); "
                              "(p / 'a.txt').write_text('a')", env={"OUTPUT_UPLOAD": upload})
    assert result.returncode == run_job.EXIT_TRANSPORT
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run-job: could not send a.txt to S3: ")
    assert lines[0].endswith("the job succeeded but its outputs did not all reach S3: submit it again")


def test_a_signal_to_the_launcher_reaches_the_job(tmp_path, s3):
    """On Batch the launcher is the container's process: `docker stop`'s SIGTERM must reach the job."""
    url, _, _ = s3
    job = """import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: (os.write(1, b"job got SIGTERM\\n"), sys.exit(143)))
print("ready", flush=True)
time.sleep(30)
"""
    script, settings = tmp_path / "job.py", tmp_path / "run-job"
    script.write_text(job)
    settings.write_text(f"command={sys.executable} {script}\noutput_dir={tmp_path / 'output'}\n")
    upload = json.dumps({"url": f"{url}/bucket", "fields": {}, "prefix": "p/"})
    process = subprocess.Popen(launcher(settings), stdout=subprocess.PIPE, text=True,
                               env={"PATH": "/usr/bin:/bin", "OUTPUT_UPLOAD": upload})
    assert process.stdout.readline().strip() == "ready"
    process.terminate()
    assert process.wait(timeout=20) == 143
    assert "job got SIGTERM" in process.stdout.read()


def test_a_big_output_goes_up_without_being_read_into_memory(tmp_path):
    """A 64 MB model: what the server gets is the whole file, byte for byte, while the upload
    never holds more than a few MB of it (tracemalloc's peak)."""
    import hashlib
    import os
    import tracemalloc

    digests = []

    class S3(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            remaining, whole = int(self.headers["Content-Length"]), hashlib.sha256()
            boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
            first = self.rfile.read(min(remaining, 1 << 16))
            start = first.index(b"application/octet-stream\r\n\r\n") + len(b"application/octet-stream\r\n\r\n")
            remaining -= len(first)
            closing = b"\r\n--" + boundary + b"--\r\n"
            pending = first[start:]
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                remaining -= len(chunk)
                pending += chunk
                whole.update(pending[:-len(closing)])
                pending = pending[-len(closing):]
            assert pending == closing
            digests.append(whole.hexdigest())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    folder = tmp_path / "output"
    folder.mkdir()
    model = os.urandom(64 * 2**20)
    (folder / "model.bin").write_bytes(model)
    server = http.server.HTTPServer(("127.0.0.1", 0), S3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    destination = {"url": f"http://127.0.0.1:{server.server_port}/bucket", "fields": {"policy": "p"}, "prefix": "r/"}
    tracemalloc.start()
    try:
        sent = run_job.upload(folder, destination)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.shutdown()
    assert sent == ["model.bin"] and digests == [hashlib.sha256(model).hexdigest()]
    assert peak < 8 * 2**20, f"the upload held {peak / 2**20:.0f} MB at once"
