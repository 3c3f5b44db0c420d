"""The logic behind tasks.py: plain functions over plain values, and a seam to each world outside.

Each module imports only from the levels below its own in this list, top first; tests/unit/
test_template.py reads the list and checks every import of every module against it, so a new
module takes its place here first:

7. tasks/, one module a group of tasks: `batch` (AWS Batch, all of it: batch-setup, batch-submit,
   batch-status, batch-logs, batch-collect, batch-teardown), `swarm` (swarm-run, swarm-status),
   `release` (tag, verify), `shipping` (login, push, pull), `lifecycle` (ps, logs, stop, kill, rm,
   rmi, clean), `starter` (init, doctor) and `upgrade`;
6. tasks/ that those build on: `building` (build), `workflow` (run, shards, images, runs) and
   `dependencies` (lock, base, reqs);
5. seams/, the only modules that talk to the world outside, each through its library, which it
   imports in the functions that need it and no other module imports: `engine` (Docker: the SDK
   and the docker CLI), `git_state` (the repository), `aws` (boto3) and `upstream` (the
   repository that inv upgrade takes the machinery from). They take and return plain values, and
   of the modules here import errors alone;
4. `cleanup` and `registry` (which keeps the record of pushes in the project);
3. `settings` (the flag, then the environment, then .env, then the defaults), `tables` (the
   listings) and `dependency_source`;
2. `job` (the job contract), `selection`, `records` (which keeps the run records in the
   project), `platforms`, `build_cache`, `commands` (command lines, and the steps a dry run
   prints), `shards`, `python_version` and `batch` (AWS Batch's requests: the jobs, following
   them, and the environment they need);
1. `labels`, `tags`, `stores`, `run_options`, `envfiles`, `build_secrets`, `build_failure`,
   `lockfile`, `base_image`, `sbom`, `smoke` (the image's check), `image_archive`, `machinery`,
   `tasking`, `launcher/run_job` (the image's entrypoint) and `launcher/venv_layers` (which splits
   the image's virtualenv into layers; both import the standard library alone): each of one
   subject, from nothing here but errors;
0. `errors`, which every module may raise.

So the pure modules, levels 0 to 4, compute from plain values: they are unit-tested without an
engine, and `inv --list` stays fast.
"""

# The machinery's version: `inv doctor` shows it, `inv upgrade` moves it; CHANGELOG.md beside this
# file says what each one changed.
__version__ = "1.3.0"
