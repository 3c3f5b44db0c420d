"""The logic behind tasks.py: plain functions over plain values, and one seam to the engine.

The tree shows the three layers; each imports only from those below it (tests/unit/test_template.py
checks it):
- `tasks/`, one module a group of tasks: `workflow` (build, run, shards, images, runs),
  `lifecycle` (versions, containers, images, clean), `shipping` (login, push, pull),
  `scaleout` (Swarm, AWS Batch jobs), `batch_setup` (AWS Batch's environment), `starter` (init,
  doctor) and `dependencies` (reqs);
- `seams/`: `engine`, the one module that talks to Docker (the SDK and the `docker` CLI),
  `git_state`, the one that reads the repository, and `aws`, the one that talks to AWS (boto3);
- here, modules that compute from plain values: `settings`, `job` (the job contract), `stores`,
  `platforms`, `build_secrets`, `build_cache`, `sbom`, `tags`, `labels`, `envfiles`,
  `run_options`, `shards`, `smoke` (the image's check), `commands` (command lines, and the steps a
  dry run prints), `selection`, `cleanup`, `tables`, `records` and `registry` (which also keep
  their files in the project), `batch`, `batch_environment`, `tasking` and `errors`. They never
  import docker, so they are unit-tested without an engine, and `inv --list` stays fast.
"""

# The machinery's version: `inv doctor` shows it, `inv upgrade` moves it; CHANGELOG.md beside this
# file says what each one changed.
__version__ = "1.0.0"
