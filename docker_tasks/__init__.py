"""The logic behind tasks.py: plain functions over plain values, and one seam to the engine.

Modules that compute (settings, tags, labels, envfiles, run_options, commands, errors, tables)
never import docker or git, so they are unit-tested without an engine and `inv --list` stays
fast. Only `engine` talks to Docker, and only `git_state` reads the repository.
"""
