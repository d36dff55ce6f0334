"""Reading TOML config files: one frozen base model, one path type resolved against the config
file's folder, and errors that name the file and the field as the file spells it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from regiozicht.errors import ConfigError

SQLITE = "sqlite:///"


class Frozen(BaseModel):
    """The base of every config model: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def _config_folder(info: ValidationInfo) -> Path | None:
    context = info.context
    return Path(context["folder"]) if isinstance(context, dict) and "folder" in context else None


def _beside_config(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    folder = _config_folder(info)
    return value if folder is None or value.is_absolute() else (folder / value).resolve()


def _sqlite_beside_config(url: str | None, info: ValidationInfo) -> str | None:
    folder = _config_folder(info)
    if url is None or folder is None or not url.startswith(SQLITE) or url.startswith(SQLITE + "/") \
            or ":memory:" in url:
        return url
    return SQLITE + str((folder / url[len(SQLITE):]).resolve())


# a file or folder named in a config file: relative to that file's folder (`~` allowed)
ConfigPath = Annotated[Path, AfterValidator(_beside_config)]
# a SQLAlchemy URL named in a config file: a relative SQLite file is relative to that file's folder
DatabaseUrl = Annotated[str, AfterValidator(_sqlite_beside_config)]


def load_model(model: type[M], path: Path, what: str, check_command: str) -> M:
    """Reads `path` (TOML) into `model`, its paths resolved against the file's folder.

    Raises:
        ConfigError: Unreadable, not TOML, or a field wrong (named as the file spells it).
    """
    raw = load_toml(path, what)
    try:
        return model.model_validate(raw, context={"folder": path.parent})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, check_command, raw)) from None


def load_toml(path: Path, what: str) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} {path} ({exc.strerror}); give the right path.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The {what} {path} is not valid TOML: {exc}; fix that line.") from None


def describe_validation_error(path: Path, exc: ValidationError, check_command: str,
                              raw: dict[str, object] | None = None) -> str:
    first = exc.errors()[0]
    where = field_name(tuple(first["loc"]), raw) or "(top level)"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{path}: {where}: {message}{more}; fix the file and run `{check_command}`."


def field_name(loc: tuple[int | str, ...], raw: dict[str, object] | None = None) -> str:
    """A field as the TOML file spells it: `[state] url`, `[[datasets]] vsv: dimensions`."""
    if not loc:
        return ""
    head, rest = str(loc[0]), list(loc[1:])
    tables = raw.get(head) if raw is not None else None
    if rest and isinstance(rest[0], int):  # an array of tables: name the entry, not its 0-based index
        index = int(rest.pop(0))  # an int, checked just above
        entry = tables[index] if isinstance(tables, list) and index < len(tables) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"[[{head}]] {name}" if isinstance(name, str) else f"[[{head}]] number {index + 1}"
        return f"{label}: {'.'.join(str(p) for p in rest)}" if rest else label
    if not rest:
        return f"[{head}]" if isinstance(tables, dict) else f"`{head}`"
    return f"[{head}] {'.'.join(str(p) for p in rest)}"


class CoordinatorSection(Frozen):
    """Where a party that dials out (a node, a counter) finds the coordinator."""

    address: str = Field(description="host:port of the region's coordinator; this party dials out to it.")
    server_name: str | None = Field(None, description="Name to check in the coordinator's certificate, if not the host.")


class TlsSection(Frozen):
    """A dialing party's own certificate and key, and the regional CA."""

    ca: ConfigPath = Field(description="The regional CA certificate (PEM).")
    certificate: ConfigPath = Field(description="This party's certificate (PEM).")
    key: ConfigPath = Field(description="This party's private key (PEM, mode 0600).")
    revocation_list: ConfigPath | None = Field(
        None, description="Optional local copy of the CA's revocation list, loaded at start (a node never goes back "
                          "to a list older than the newest it has seen, whoever sends it).")
