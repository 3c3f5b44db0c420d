"""Which slice of the input this process scores, whichever engine started it.

One image runs as N shards on the local engine (`inv run --shards N`), on Docker Swarm, on AWS
Batch or as a Kubernetes indexed Job; each tells a shard its place its own way. Shard i of N
scores rows [i*rows/N, (i+1)*rows/N) and writes `part-<i>-of-<N>.csv`; `merge` joins the parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Where each engine puts the shard's index (counting from 0), in the order they are looked for.
INDEX_VARIABLES = (
    "SHARD_INDEX",  # inv run --shards, or set by hand
    "SWARM_TASK_SLOT",  # inv swarm-run sets it to Swarm's {{.Task.Slot}} (see below)
    "AWS_BATCH_JOB_ARRAY_INDEX",  # AWS Batch array jobs
    "JOB_COMPLETION_INDEX",  # Kubernetes indexed Jobs
)
PART = re.compile(r"^part-(\d{5})-of-(\d{5})\.csv$")


class ShardError(ValueError):
    """The shard settings or the parts on disk do not add up."""


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @property
    def part_name(self) -> str:
        return f"part-{self.index:05d}-of-{self.count:05d}.csv"

    def rows(self, total: int) -> range:
        """This shard's contiguous slice of `total` rows; the slices cover every row once."""
        return range(self.index * total // self.count, (self.index + 1) * total // self.count)


def from_environment(environ: Mapping[str, str]) -> Shard:
    """The shard this process is: SHARD_COUNT (default 1) and the first index variable set."""
    try:
        count = int(environ.get("SHARD_COUNT", "1"))
    except ValueError:
        raise ShardError(f"SHARD_COUNT={environ['SHARD_COUNT']!r} is not a whole number") from None
    for name in INDEX_VARIABLES:
        if environ.get(name, "") != "":
            value = environ[name]
            if name == "SWARM_TASK_SLOT" and not value.isdigit():
                # A replicated job's slots run from 0, and Swarm renders slot 0 as the node's id.
                value = "0"
            try:
                index = int(value)
            except ValueError:
                raise ShardError(f"{name}={value!r} is not a whole number") from None
            break
    else:
        index = batch_child_index(environ.get("AWS_BATCH_JOB_ID", ""))
    if count < 1 or not 0 <= index < count:
        raise ShardError(f"shard index {index} does not fit SHARD_COUNT={count}; indices run from 0 to count-1")
    return Shard(index, count)


def batch_child_index(job_id: str) -> int:
    """A Batch array child's index from its job id, `<parent id>:<index>`, for where
    AWS_BATCH_JOB_ARRAY_INDEX is missing (moto's emulator sets only the id); 0 for a single job."""
    parent, _, suffix = job_id.rpartition(":")
    return int(suffix) if parent and suffix.isdigit() else 0


def find_parts(folder: Path) -> list[Path]:
    """Every part of one sharded run, in order; a missing or mismatched part is an error."""
    parts: dict[int, Path] = {}
    counts = set()
    for path in folder.iterdir():
        match = PART.match(path.name)
        if match:
            parts[int(match[1])] = path
            counts.add(int(match[2]))
    if not parts:
        raise ShardError(f"no part-*-of-*.csv files in {folder}; run the shards first")
    if len(counts) > 1:
        raise ShardError(f"{folder} holds parts of runs with different shard counts {sorted(counts)}; "
                         "remove the old parts")
    (count,) = counts
    missing = [i for i in range(count) if i not in parts]
    if missing:
        raise ShardError(f"{len(missing)} of {count} parts are missing (shards {', '.join(map(str, missing[:10]))}); "
                         "rerun those shards")
    return [parts[i] for i in range(count)]
