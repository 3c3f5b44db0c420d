"""The tasks' own test job: the shape of a real batch job in the standard library alone.

The integration tests build and run this job, never the sample in src/, so that they keep passing
in a fork whose job looks nothing like the sample. It trains (slowly, when told to), stops cleanly
on SIGTERM, writes its outputs atomically, scores in shards and merges the parts, as the job
contract in pyproject.toml says. It knows only its folders: on AWS Batch the image's launcher
fetches the files sent along and uploads what it wrote.
"""

import argparse
import csv
import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path

ROWS = 569  # rows of the data a prediction scores by default
COLUMNS = [f"f{i}" for i in range(30)]
PART = re.compile(r"^part-(\d{5})-of-(\d{5})\.csv$")
stop_requested = False


def on_sigterm(signum, frame):
    global stop_requested
    stop_requested = True


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


def shard() -> tuple[int, int]:
    count = int(os.environ.get("SHARD_COUNT", "1"))
    for name in ("SHARD_INDEX", "SWARM_TASK_SLOT", "AWS_BATCH_JOB_ARRAY_INDEX"):
        value = os.environ.get(name, "")
        if value:
            return (int(value) if value.isdigit() else 0), count
    parent, _, child = os.environ.get("AWS_BATCH_JOB_ID", "").rpartition(":")  # a Batch array child: <id>:<i>
    return (int(child) if parent and child.isdigit() else 0), count


def train(args) -> int:
    steps = args.n_estimators or int(os.environ.get("N_ESTIMATORS", "20"))
    seed = int(os.environ.get("RANDOM_SEED", "42"))
    print(f"training on {ROWS} rows with {steps} steps, as shard {shard()[0]} of {shard()[1]}", flush=True)
    rng = random.Random(seed)
    weights = [0.0] * len(COLUMNS)
    for _ in range(steps):
        if stop_requested:
            print("stopped by SIGTERM before the model was complete; nothing was written", flush=True)
            return 143
        weights = [w + rng.random() / steps for w in weights]
        time.sleep(0.01)
    write_atomically(args.output_dir / "model.json", json.dumps({"columns": COLUMNS, "weights": weights}))
    write_atomically(args.output_dir / "metrics.json", json.dumps({"n_estimators": steps, "random_seed": seed}))
    print(f"train finished; wrote {args.output_dir}/model.json and metrics.json", flush=True)
    return 0


def predict(args) -> int:
    if args.input and not args.input.is_file():
        print(f"input file not found: {args.input}", flush=True)
        return 2
    model_path = args.output_dir / "model.json"
    if model_path.is_file():
        model = json.loads(model_path.read_text())
    else:  # where nothing is mounted (AWS Batch), the model that ships with the job
        print(f"no model at {model_path}: scoring with the shipped one", flush=True)
        model = {"columns": COLUMNS, "weights": [0.5] * len(COLUMNS)}
    if args.input:
        with open(args.input, newline="") as source:
            header = next(csv.reader(source), [])
        missing = [c for c in model["columns"] if c not in header]
        if missing:
            print(f"input is missing {len(missing)} column(s) the model needs", flush=True)
            return 2
    index, count = shard()
    rows = range(index * ROWS // count, (index + 1) * ROWS // count)
    name = f"part-{index:05d}-of-{count:05d}.csv" if count > 1 or "SHARD_INDEX" in os.environ else "predictions.csv"
    lines = ["row,score"] + [f"{row},{sum(model['weights']) * row:.6f}" for row in rows]
    write_atomically(args.output_dir / name, "\n".join(lines) + "\n")
    print(f"scored rows {rows.start} to {rows.stop}; wrote {name}", flush=True)
    return 0


def merge(args) -> int:
    parts = {int(m[1]): (int(m[2]), p) for p in args.output_dir.iterdir() if (m := PART.match(p.name))}
    counts = {count for count, _ in parts.values()}
    if len(counts) != 1 or sorted(parts) != list(range(counts.pop())):
        print(f"the parts in {args.output_dir} are incomplete or mixed: {sorted(parts)}", flush=True)
        return 2
    lines = ["row,score"]
    for index in sorted(parts):
        lines += parts[index][1].read_text().splitlines()[1:]
    target = args.output or args.output_dir / "predictions-merged.csv"
    write_atomically(target, "\n".join(lines) + "\n")
    print(f"merged {len(parts)} parts, {len(lines) - 1} rows", flush=True)
    return 0


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "predict", "merge"):
        command = commands.add_parser(name)
        command.add_argument("--output-dir", type=Path, default=Path(os.environ.get("OUTPUT_DIR", "output")))
    commands.choices["train"].add_argument("--n-estimators", type=int, default=None)
    commands.choices["predict"].add_argument("--input", type=Path, default=None)
    commands.choices["merge"].add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return {"train": train, "predict": predict, "merge": merge}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
