"""Reading TOML config files with errors that name the file and field."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from regiozicht.errors import ConfigError


def load_toml(path: Path, what: str) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} {path} ({exc.strerror}); give the right path.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The {what} {path} is not valid TOML: {exc}; fix that line.") from None


def describe_validation_error(path: Path, exc: ValidationError, check_command: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{path}: `{where}`: {first['msg']}{more}; fix the file and run `{check_command}`."
