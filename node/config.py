"""The node's configuration: `node.toml`, written by the partner's IT staff.

Frozen pydantic models with ``extra="forbid"``; relative paths are resolved
against the directory of the config file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from regiozicht.cells import ONBEKEND
from regiozicht.errors import ConfigError
from regiozicht.identity import KINDS
from regiozicht.tomlconfig import ConfigPath, CoordinatorSection, DatabaseUrl, TlsSection, load_model
from regiozicht.tomlconfig import Frozen as _Frozen

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Dimension(_Frozen):
    domain: tuple[str, ...] = Field(description="Public values of this dimension; anything else counts as `onbekend`.")
    info_class: Literal["DAT", "WAT"] = Field("DAT", description="DAT: that someone is known; WAT: what the issue is.")
    description: str = Field("", description="One line shown in the catalog.")

    @field_validator("domain")
    @classmethod
    def _domain_is_public_list(cls, domain: tuple[str, ...]) -> tuple[str, ...]:
        if not domain:
            raise ValueError("a dimension needs a non-empty public domain")
        if len(set(domain)) != len(domain):
            raise ValueError("the domain lists a value twice")
        if ONBEKEND in domain:
            raise ValueError("`onbekend` is implied; leave it out of the domain")
        return domain


class Dataset(_Frozen):
    name: str = Field(pattern=_NAME, description="Name analysts use, e.g. `vsv`.")
    description: str = Field("", description="One line shown in the catalog.")
    sql: str = Field(description="One SELECT binding :peildatum; columns person, link, the dimensions and order_by.")
    person_column: str = Field("person", description="Column identifying the person (one row per person is kept).")
    link_column: str = Field("link", description="Column holding the BSN for linked counts; never leaves the node.")
    order_by: tuple[str, ...] = Field((), description="Columns of the tie-break: latest first, per person.")
    dimensions: dict[str, Dimension] = Field(description="Dimensions analysts may group and filter on.")
    measures: dict[str, tuple[float, float]] = Field({}, description="Numeric measures with clamping bounds.")
    coverage: dict[str, tuple[str, ...]] = Field(
        {}, description="Values of a dimension this node's records cover; default: the node's [coverage].")

    @field_validator("sql")
    @classmethod
    def _binds_peildatum(cls, sql: str) -> str:
        if ":peildatum" not in sql:
            raise ValueError("the SQL template must bind :peildatum")
        if re.search(r":(?!peildatum\b)[A-Za-z_]\w*", re.sub(r"'[^']*'|::", "", sql)):
            raise ValueError("the SQL template may bind only :peildatum")
        return sql

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, dims: dict[str, Dimension]) -> dict[str, Dimension]:
        for name in dims:
            if not re.match(_NAME, name):
                raise ValueError(f"dimension name {name!r} must be lower-case letters, digits and _")
        return dims

    @model_validator(mode="after")
    def _coverage_in_domain(self) -> Dataset:
        for name, values in self.coverage.items():
            if name not in self.dimensions:
                raise ValueError(f"coverage names {name!r}, which is not a dimension of dataset {self.name!r}")
            outside = [v for v in values if v not in self.dimensions[name].domain]
            if not values or outside:
                raise ValueError(f"coverage of {name!r} must list values of its domain (not {outside or 'nothing'})")
        return self

    @property
    def definition_hash(self) -> str:
        """Hash of everything that decides what a release means."""
        # a dataset without coverage keeps the hash it had before coverage existed (stored releases stay valid)
        dumped = self.model_dump(mode="json", exclude=None if self.coverage else {"coverage"})
        text = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class NodeSection(_Frozen):
    org: str = Field(pattern=_SLUG, description="Organisation slug, as in the node's certificate.")
    kind: str = Field(description="Partner kind: rmc, wi, school, jeugdhulp, leerplicht or brp.")
    data_as_of: dt.datetime = Field(description="Extract time of the partner data; later reference dates are refused.")
    data_from: dt.date | None = Field(
        None, description="First date the extract covers; earlier reference dates are refused (unset: no lower bound).")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(KINDS))}")
        return kind

    @model_validator(mode="after")
    def _data_from_before_data_as_of(self) -> NodeSection:
        if self.data_from is not None and self.data_from > self.data_as_of.date():
            raise ValueError("data_from is after data_as_of; data_from is the first date the extract covers")
        return self


class ExtractFile(_Frozen):
    """How to read one CSV extract (or one XLSX sheet), where detection is not enough."""

    delimiter: str | None = Field(None, min_length=1, max_length=1,
                                  description="Field separator of a CSV file; default detected (`;` `,` tab `|`).")
    encoding: Literal["utf-8", "latin-1", "utf-16"] | None = Field(
        None, description="Character encoding of a CSV file; default utf-8, or latin-1 when the start is not utf-8.")
    date_format: str | None = Field(None, description="strftime format of its dates, e.g. \"%d-%m-%Y\"; default "
                                                      "detected (Dutch dd-mm-yyyy, ISO yyyy-mm-dd).")
    types: dict[str, str] = Field({}, description="Column types where detection guesses wrong, e.g. "
                                                  "{ postcode = \"VARCHAR\", start = \"DATE\" }.")


class DatabaseSection(_Frozen):
    url: DatabaseUrl | None = Field(None, description="SQLAlchemy URL of the partner database (read-only access suffices); "
                                              "or give `folder`.")
    folder: ConfigPath | None = Field(None, description="A folder of CSV, XLSX and Parquet extracts instead of a database: "
                                                  "each file (each sheet of a workbook) is a table named after it.")
    files: dict[str, ExtractFile] = Field({}, description="Per extract (file stem or sheet name): how to read it.")
    text_columns: tuple[str, ...] = Field(("bsn",), description="Columns of every extract read as text, never as "
                                                                "numbers (identifiers with leading zeros).")

    @model_validator(mode="after")
    def _url_or_folder(self) -> DatabaseSection:
        if (self.url is None) == (self.folder is None):
            raise ValueError("give exactly one of url (a database) and folder (a folder of extract files)")
        if self.files and self.folder is None:
            raise ValueError("[database.files] describes extract files; it needs folder, not url")
        return self


class StateSection(_Frozen):
    url: DatabaseUrl = Field(description="SQLAlchemy URL of the node's own store: releases, ledger, audit trail.")
    high_water_mark: ConfigPath | None = Field(
        None, description="The ledger's high-water mark file; default beside a SQLite state DB. Keep it out of backups.")

    def watermark_path(self) -> Path:
        """Where the high-water mark lives; required for a state DB that is not a SQLite file."""
        if self.high_water_mark is not None:
            return self.high_water_mark
        prefix = "sqlite:///"
        if self.url.startswith(prefix) and self.url != "sqlite://" and ":memory:" not in self.url:
            return Path(self.url[len(prefix):] + ".high-water-mark.json")
        raise ConfigError("[state] high_water_mark must name a file when the state database is not a SQLite file; "
                          "add it to node.toml.")


class NodeConfig(_Frozen):
    node: NodeSection
    coordinator: CoordinatorSection
    tls: TlsSection
    database: DatabaseSection
    state: StateSection
    datasets: tuple[Dataset, ...] = Field(description="What this node publishes.")
    covenant: ConfigPath = Field(description="The covenant file (covenant.toml) the privacy officer owns.")
    workers: int = Field(4, ge=1, le=64, description="Queries answered at the same time.")
    coverage: dict[str, tuple[str, ...]] = Field(
        {}, description="Values of a dimension this node's records cover, e.g. gemeente = [\"GM0363\"]: counts keep "
                        "only rows inside, and answer only those cells; applies to every dataset with that dimension.")

    @model_validator(mode="before")
    @classmethod
    def _coverage_to_datasets(cls, raw: object) -> object:
        """The node's [coverage] becomes part of each dataset's definition (and so of its hash and release key)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("coverage"), dict) or not isinstance(
                raw.get("datasets"), (list, tuple)):
            return raw
        datasets = []
        for dataset in raw["datasets"]:
            if isinstance(dataset, dict) and isinstance(dataset.get("dimensions"), dict) and "coverage" not in dataset:
                own = {k: v for k, v in raw["coverage"].items() if k in dataset["dimensions"]}
                dataset = {**dataset, "coverage": own} if own else dataset
            datasets.append(dataset)
        return {**raw, "datasets": datasets}

    @model_validator(mode="after")
    def _unique_datasets(self) -> NodeConfig:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError("two datasets have the same name")
        return self

    def dataset(self, name: str) -> Dataset | None:
        return next((d for d in self.datasets if d.name == name), None)


def load(path: Path) -> NodeConfig:
    """Reads and validates `node.toml`; raises ConfigError naming the field."""
    return load_model(NodeConfig, path, "node config", "regiozicht-node check")
