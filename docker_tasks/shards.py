"""Plans for a sharded run: N copies of one container, each told its place (pure functions).

Each shard runs the job's shard command (job.py) with SHARD_INDEX and SHARD_COUNT set, and does
its slice; a last container runs the job's merge command, if it has one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from docker_tasks.errors import TaskError
from docker_tasks.run_options import RunPlan, spread_gpus


def check_counts(shards: int, parallel: int | None, cpus: int) -> int:
    """Validate --shards and --parallel; return how many shards may run at once."""
    if shards < 1:
        raise TaskError(f"--shards {shards}: give how many shards to run, 1 or more")
    if parallel is not None and parallel < 1:
        raise TaskError(f"--parallel {parallel}: give how many shards may run at once, 1 or more")
    return min(shards, parallel or cpus)


def shard_plans(plan: RunPlan, shards: int, command: Sequence[str], gpus_per_shard: int = 1) -> list[RunPlan]:
    """`shards` copies of the plan running `command` (the one given after `--`, else the job's);
    GPUs asked for are shared out, `gpus_per_shard` each (run_options.spread_gpus)."""
    command = list(plan.command or command)
    gpus = spread_gpus(plan.gpus, shards, gpus_per_shard) if plan.gpus else [None] * shards
    return [
        dataclasses.replace(
            plan, name=f"{plan.name}-shard{index}", command=command, detach=True, gpus=gpus[index],
            environment={**plan.environment, "SHARD_INDEX": str(index), "SHARD_COUNT": str(shards)},
        )
        for index in range(shards)
    ]


def merge_plan(plan: RunPlan, command: Sequence[str]) -> RunPlan:
    return dataclasses.replace(plan, name=f"{plan.name}-merge", command=list(command), detach=False)


def combined_status(codes: Sequence[int]) -> int:
    """0 when every shard succeeded, else the first failing shard's exit code."""
    return next((code for code in codes if code != 0), 0)
