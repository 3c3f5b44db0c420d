"""The batch job's entry point: `python src/main.py train`, `predict --input X.csv` or `merge`.

It runs the same way on the host and in the container. Settings come from environment variables
(see config.py and .env.example); the flags below override them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import pandas as pd

import config
import outputs
import pipeline
import sharding

log = logging.getLogger("job")

EXIT_BAD_INPUT = 2
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """Raised from the SIGTERM handler, so that `finally` blocks remove half-written files."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the usage block too
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def _fraction(raw: str) -> float:
    try:
        return config.fraction("--test-size", raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser(settings: config.Settings) -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="main.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,predict,merge}",
                                     parser_class=_OneLineParser)

    train = commands.add_parser("train", help="fit the model and write model, metrics and predictions")
    train.add_argument("--data", type=Path, default=settings.data_path,
                       help="training CSV (default: DATA_PATH, else scikit-learn's bundled data set)")
    train.add_argument("--target", default=settings.target_column,
                       help="label column of the CSV (default: TARGET_COLUMN=%(default)s)")
    train.add_argument("--test-size", type=_fraction, default=settings.test_size,
                       help="held-out fraction (default: TEST_SIZE=%(default)s)")
    train.add_argument("--seed", type=int, default=settings.random_seed,
                       help="random seed (default: RANDOM_SEED=%(default)s)")
    train.add_argument("--n-estimators", type=int, default=settings.n_estimators,
                       help="trees in the forest (default: N_ESTIMATORS=%(default)s)")

    predict = commands.add_parser("predict", help="score a CSV with a trained model; a shard scores its slice")
    predict.add_argument("--input", type=Path, default=None,
                         help="CSV to score (default: the features of scikit-learn's bundled data set)")
    predict.add_argument("--model", type=Path, default=None,
                         help="model file (default: OUTPUT_DIR/model.joblib)")

    merge = commands.add_parser("merge", help="join the part-*-of-*.csv files of a sharded predict")
    merge.add_argument("--output", type=Path, default=None,
                       help="merged file (default: OUTPUT_DIR/predictions-merged.csv)")

    for sub in (train, predict, merge):
        sub.add_argument("--output-dir", type=Path, default=settings.output_dir,
                         help="where results go (default: OUTPUT_DIR=%(default)s)")
    return parser


def run_train(args: argparse.Namespace) -> None:
    features, labels, source = pipeline.load_training_data(args.data, args.target)
    log.info("loaded %s: %d rows", source, len(features))
    model, metrics, holdout = pipeline.train(
        features, labels, test_size=args.test_size, seed=args.seed, n_estimators=args.n_estimators
    )
    metrics["data"] = source
    log.info("accuracy %.4f, macro F1 %.4f", metrics["accuracy"], metrics["f1_macro"])
    for written in (
        outputs.write_model(model, args.output_dir / "model.joblib"),
        outputs.write_csv(holdout, args.output_dir / "predictions.csv"),
        outputs.write_json(metrics, args.output_dir / "metrics.json"),
    ):
        log.info("wrote %s", written)


def run_predict(args: argparse.Namespace) -> None:
    shard = sharding.from_environment(os.environ)
    frame = pipeline.read_csv(args.input) if args.input else pipeline.bundled_features()
    model = pipeline.load_model(args.model or args.output_dir / "model.joblib")
    if shard.count > 1:
        rows = shard.rows(len(frame))
        log.info("shard %d of %d: rows %d to %d", shard.index, shard.count, rows.start, rows.stop - 1)
        scored = pipeline.predict(model, frame.iloc[rows.start:rows.stop])
        written = outputs.write_csv(scored, args.output_dir / shard.part_name)
    else:
        scored = pipeline.predict(model, frame)
        stem = args.input.stem if args.input else "bundled"
        written = outputs.write_csv(scored, args.output_dir / f"{stem}.predictions.csv")
    log.info("scored %d rows; wrote %s", len(scored), written)


def run_merge(args: argparse.Namespace) -> None:
    parts = sharding.find_parts(args.output_dir)
    merged = pd.concat([pipeline.read_csv(part) for part in parts], ignore_index=True)
    written = outputs.write_csv(merged, args.output or args.output_dir / "predictions-merged.csv")
    log.info("merged %d parts, %d rows; wrote %s", len(parts), len(merged), written)


def main(argv: list[str] | None = None) -> int:
    config.load_dotenv_for_local_runs()
    try:
        settings = config.from_environment()
    except ValueError as exc:
        print(f"error: {exc} (see .env.example)", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(stream=sys.stdout, level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser(settings).parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)

    started = time.monotonic()
    try:
        {"train": run_train, "predict": run_predict, "merge": run_merge}[args.command](args)
    except (pipeline.JobError, sharding.ShardError) as exc:
        log.error("%s", exc)
        return EXIT_BAD_INPUT
    except Terminated:
        log.warning("stopped by SIGTERM; no partial output was left behind")
        return EXIT_TERMINATED
    log.info("%s finished in %.1fs", args.command, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
