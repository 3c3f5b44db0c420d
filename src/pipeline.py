"""The machine-learning part of the job: load data, fit a model, score it, predict.

# --- Replace with your own job -------------------------------------------------------------
# This is the sample: a random forest on scikit-learn's bundled breast-cancer data set (nothing
# is downloaded), or on a CSV you mount. Keep the function signatures, or change main.py too.
# --------------------------------------------------------------------------------------------
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)

BUNDLED_DATASET = "sklearn:breast_cancer"


class JobError(Exception):
    """Bad input the user can fix; main.py prints it as one line and exits non-zero."""


def read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise JobError(f"input file not found: {path} (mount its folder with --volume)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise JobError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise JobError(f"{path} has no rows")
    return frame


def bundled_features() -> pd.DataFrame:
    """The bundled data set's features: something to score without a CSV of your own."""
    return load_breast_cancer(as_frame=True).data


def load_training_data(data_path: Path | None, target_column: str) -> tuple[pd.DataFrame, pd.Series, str]:
    """Return features, labels and a name for the data: a CSV when given, else the bundled set."""
    if data_path is None:
        bundled = load_breast_cancer(as_frame=True)
        return bundled.data, bundled.target, BUNDLED_DATASET
    frame = read_csv(data_path)
    if target_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:10]))
        raise JobError(
            f"{data_path} has no target column {target_column!r} (columns: {columns}); "
            "set TARGET_COLUMN or --target"
        )
    features = frame.drop(columns=[target_column])
    non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise JobError(f"{data_path} has non-numeric feature columns: {', '.join(non_numeric)}")
    return features, frame[target_column], str(data_path)


def train(
    features: pd.DataFrame, labels: pd.Series, *, test_size: float, seed: int, n_estimators: int
) -> tuple[RandomForestClassifier, dict[str, Any], pd.DataFrame]:
    """Fit on a training split; return the model, its metrics and the held-out predictions."""
    if labels.nunique() < 2:
        raise JobError("the target column has a single value; a classifier needs at least two")
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    log.info("training on %d rows, %d features; holding out %d rows", *x_train.shape, len(x_test))
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    model.fit(x_train, y_train)

    predicted = model.predict(x_test)
    metrics: dict[str, Any] = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
        "train_rows": len(x_train),
        "test_rows": len(x_test),
        "features": features.shape[1],
        "n_estimators": n_estimators,
        "random_seed": seed,
    }
    if labels.nunique() == 2:
        metrics["roc_auc"] = round(float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])), 4)
    holdout = pd.DataFrame({"row": x_test.index, "actual": y_test.to_numpy(), "predicted": predicted})
    return model, metrics, holdout


def load_model(path: Path) -> Any:
    if not path.is_file():
        raise JobError(f"model not found: {path} (run `train` first, or pass --model)")
    return joblib.load(path)


def predict(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Score `frame`, which must hold the columns the model was trained on (extra ones are kept)."""
    expected = [str(c) for c in getattr(model, "feature_names_in_", frame.columns)]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise JobError(f"input is missing {len(missing)} column(s) the model needs: {shown}")
    result = frame.copy()
    result["predicted"] = model.predict(frame[expected])
    return result
