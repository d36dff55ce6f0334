"""Simulate the region and load every partner's view of it."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from synth.manifest import GemeenteInfo, Manifest, PartnerInfo
from synth.population import lives, population_size
from synth.project import Projector
from synth.region import make_gemeenten, make_partners
from synth.store import PartnerSink, TruthSink, sqlite_url

DEFAULT_EXTRACT_TIME = dt.datetime(2026, 11, 1)


def generate(out_dir: Path, *, scale: float = 1.0, seed: int = 7, gemeenten: int = 5, own_wi: bool = True,
             urls: dict[str, str] | None = None, extract_time: dt.datetime = DEFAULT_EXTRACT_TIME,
             progress: bool = False) -> Manifest:
    """Write partner databases, truth store, manifest.json and truth.json into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    urls = dict(urls or {})
    region = make_gemeenten(gemeenten, own_wi=own_wi)
    partners = make_partners(region)
    unknown = set(urls) - {p.id for p in partners}
    if unknown:
        raise ValueError(f"--url names unknown partners {sorted(unknown)}; use one of {[p.id for p in partners]}")
    last_day = (extract_time - dt.timedelta(microseconds=1)).date()
    sinks = {}
    for p in partners:
        if p.id not in urls:
            (out_dir / f"{p.id}.sqlite").unlink(missing_ok=True)
        sinks[p.id] = PartnerSink(p, urls.get(p.id) or sqlite_url(out_dir / f"{p.id}.sqlite"), extract_time)
    truth = TruthSink(out_dir / "truth.sqlite")
    projector = Projector(seed, region)
    total, done = population_size(scale, last_day), 0
    for batch in lives(seed, scale, region, last_day):
        for life in batch:
            truth.person(life.index, life.bsn, life.birth, life.sex)
            for rec in projector.records(life):
                sink = sinks[rec.partner]
                ids = [sink.add(rec.table, row) for row in rec.recorded]
                truth.add(rec, ids, life.bsn)
        for sink in sinks.values():
            sink.flush()
        done += len(batch)
        if progress:
            print(f"\rsimulated {done}/{total} persons ({100 * done // total}%)", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    truth.close()
    for sink in sinks.values():
        sink.close()
    manifest = Manifest(
        seed=seed, scale=scale, n_gemeenten=gemeenten, extract_time=extract_time.isoformat(),
        gemeenten=[GemeenteInfo(g.code, g.name, g.own_wi) for g in region],
        partners=[PartnerInfo(p.id, p.org, p.kind, urls.get(p.id) or f"{p.id}.sqlite", dict(sinks[p.id].counts))
                  for p in partners],
        persons=total,
        deliberately_invalid_bsns={p.id: sinks[p.id].invalid_bsns for p in partners},
    )
    manifest.save(out_dir)
    _write_truth_json(out_dir, manifest)
    return manifest


def _write_truth_json(out_dir: Path, manifest: Manifest) -> None:
    from synth.indicators import truth_document
    from synth.truth import Truth

    doc = truth_document(Truth.load(out_dir), manifest)
    (out_dir / "truth.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
