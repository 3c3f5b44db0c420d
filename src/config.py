"""The job's settings: environment variables with defaults, paths relative to the project root.

Every variable here is documented in `.env.example`. Command-line arguments override them.
Outside a container, a `.env` file at the project root is loaded first (it is never copied
into the image), so local runs and container runs read the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_dotenv_for_local_runs() -> None:
    """Load `<project>/.env` when it exists; variables already set win."""
    env_file = PROJECT_ROOT / ".env"
    if env_file.is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)


@dataclass(frozen=True)
class Settings:
    output_dir: Path
    data_path: Path | None
    target_column: str
    test_size: float
    random_seed: int
    n_estimators: int
    log_level: str


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def from_environment(environ: os._Environ[str] | dict[str, str] = os.environ) -> Settings:
    """Read the settings, raising ValueError with the variable's name when one is malformed."""

    def number(name: str, default: str, kind: type):
        raw = environ.get(name, default)
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None

    data = environ.get("DATA_PATH", "")
    return Settings(
        output_dir=_path(environ.get("OUTPUT_DIR", "output")),
        data_path=_path(data) if data else None,
        target_column=environ.get("TARGET_COLUMN", "target"),
        test_size=fraction("TEST_SIZE", environ.get("TEST_SIZE", "0.25")),
        random_seed=number("RANDOM_SEED", "42", int),
        n_estimators=number("N_ESTIMATORS", "200", int),
        log_level=_log_level(environ.get("LOG_LEVEL", "INFO")),
    )


def fraction(name: str, raw: str) -> float:
    """A number strictly between 0 and 1, such as the held-out share of the rows."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not 0 < value < 1:
        raise ValueError(f"{name}={raw!r} must be between 0 and 1, e.g. 0.25")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"LOG_LEVEL={raw!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level
