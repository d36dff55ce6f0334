"""manifest.json: what was generated, where each partner's data lives."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GemeenteInfo:
    code: str
    name: str
    own_wi: bool = False  # has a W&I node of its own (the others share the regional one)


@dataclass(frozen=True)
class PartnerInfo:
    id: str
    org: str
    kind: str
    database: str  # file name inside the output directory, or a SQLAlchemy URL
    tables: dict[str, int]

    def url(self, out_dir: Path) -> str:
        """SQLAlchemy URL of this partner's database."""
        if "://" in self.database:
            return self.database
        return f"sqlite:///{Path(out_dir) / self.database}"


@dataclass(frozen=True)
class Manifest:
    seed: int
    scale: float
    n_gemeenten: int
    extract_time: str
    gemeenten: list[GemeenteInfo]
    partners: list[PartnerInfo]
    persons: int
    deliberately_invalid_bsns: dict[str, int] = field(default_factory=dict)

    @property
    def extract_datetime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.extract_time)

    def partner(self, partner_id: str) -> PartnerInfo:
        return next(p for p in self.partners if p.id == partner_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def save(self, out_dir: Path) -> None:
        (Path(out_dir) / "manifest.json").write_text(self.to_json())

    @classmethod
    def load(cls, out_dir: Path) -> Manifest:
        raw = json.loads((Path(out_dir) / "manifest.json").read_text())
        return cls(
            seed=raw["seed"], scale=raw["scale"], n_gemeenten=raw["n_gemeenten"],
            extract_time=raw["extract_time"],
            gemeenten=[GemeenteInfo(**g) for g in raw["gemeenten"]],
            partners=[PartnerInfo(**p) for p in raw["partners"]],
            persons=raw["persons"], deliberately_invalid_bsns=raw["deliberately_invalid_bsns"],
        )
