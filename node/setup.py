"""`regiozicht-node init`: a new node's files from the standard partner schemas.

The datasets' SQL is the one `synth.datasets` defines per partner kind (the
standard schemas of docs/synthetic-region.md), so the templates a partner starts
from are the ones the test suite checks against the truth. A partner whose
system names its tables or columns differently adapts the SQL; the comments in
node.toml say where. The covenant is a template: the privacy officer fills in
its placeholders before the node can serve.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from node.propose import Proposal, datasets_toml, propose
from regiozicht import authority
from regiozicht.errors import ConfigError
from regiozicht.identity import KINDS, Identity

PLACEHOLDER = "FILL IN"  # covenant values the privacy officer must replace; refused at load while present
# the synthetic region's codes; a real region lists its own CBS gemeente codes (--gemeente)
DEFAULT_GEMEENTEN = tuple(f"GM{9001 + i}" for i in range(5))

_LAW = {
    "rmc": "Wet op het voortgezet onderwijs, art. 8a (RMC-functie)",
    "wi": "Participatiewet, art. 7",
    "school": "Wet op het voortgezet onderwijs / Wet educatie en beroepsonderwijs",
    "jeugdhulp": "Jeugdwet, art. 2.1",
    "leerplicht": "Leerplichtwet 1969",
    "brp": "Wet basisregistratie personen",
}
# the standard links of the regional monitor, seen from each kind: (partner kind, own datasets, theirs)
_LINKS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "rmc": [("wi", ["vsv"], ["baan", "bijstand", "bijstand_12m"]), ("jeugdhulp", ["vsv"], ["jeugdhulp_24m"])],
    "wi": [("rmc", ["baan", "bijstand", "bijstand_12m"], ["vsv"]),
           ("school", ["baan", "uitkering", "bijstand"], ["school_leaver", "startkwalificatie"])],
    "jeugdhulp": [("rmc", ["jeugdhulp_24m"], ["vsv"])],
    "school": [("wi", ["school_leaver", "startkwalificatie"], ["baan", "uitkering", "bijstand"])],
    "leerplicht": [],
    "brp": [],
}


@dataclass(frozen=True)
class NodeFiles:
    """What `init` wrote."""

    config: Path
    covenant: Path
    state: Path
    key: Path
    request: Path
    proposals: tuple[Proposal, ...] = ()  # datasets proposed from extract files (init --files), to confirm


def standard_datasets(kind: str, gemeenten: tuple[str, ...]) -> list[dict[str, Any]]:
    """The kind's standard datasets as `[[datasets]]` tables of node.toml."""
    from synth.datasets import DEFINITIONS  # the one definition of the standard schemas' SQL (lazily: data only)

    if kind not in DEFINITIONS:
        raise ConfigError(f"Unknown partner kind {kind!r}; use one of {', '.join(KINDS)}.")
    tables = []
    for definition in DEFINITIONS[kind]:
        spec = definition.spec({"gemeente": gemeenten})
        table: dict[str, Any] = {
            "name": spec.name, "description": spec.description, "sql": _readable(spec.sql),
            "order_by": list(spec.order_by),
            "dimensions": {name: {"domain": list(d.domain), "info_class": d.info_class, "description": d.description}
                           for name, d in spec.dimensions.items()},
        }
        if spec.measures:
            table["measures"] = {name: list(bounds) for name, bounds in spec.measures.items()}
        tables.append(table)
    return tables


def _readable(sql: str) -> str:
    """One clause per line: the same statement, easier for a partner to adapt."""
    return re.sub(r" (FROM|JOIN|WHERE) ", r"\n\1 ", re.sub(r", (?=t\.|CASE|EXISTS)", ",\n       ", sql)) + "\n"


def node_toml(*, kind: str, org: str, coordinator: str, database: str, state: str, data_as_of: dt.datetime,
              gemeenten: tuple[str, ...], proposed: str | None = None) -> str:
    """node.toml; `database` is a URL, or with `proposed` (datasets from the files) the extract folder."""
    if proposed is None:
        database_section = f'url = "{database}"   # a read-only account on the partner database'
        datasets_intro = f"""# The datasets below read the standard {kind} schema (docs/synthetic-region.md, "Partners and tables").
# ADAPT where your system differs: rename tables and columns inside each `sql`, but keep its output
# columns (person, link, one per dimension, the order_by columns) and its one parameter :peildatum.
# ADAPT each gemeente domain to your region's CBS codes (or run init with --gemeente).
"""
    else:
        database_section = (f'folder = "{database}"   # the extract files (CSV, XLSX, Parquet); docs/extracts.md\n'
                            '# CONFIRM how each file is read where detection is not enough: [database.files.NAME]')
        datasets_intro = """# The datasets below are PROPOSED from the extracts' columns by `regiozicht-node init --files`.
# CONFIRM every line marked so: the operator knows what a column means, the proposal only guesses.
# Keep each `sql`'s output columns (person, link, one per dimension, the order_by columns) and its one
# parameter :peildatum; delete a dataset block the node should not publish.
"""
    head = f'''# node.toml for {org} ({kind}), written by `regiozicht-node init`; owned by the partner's IT staff.
# Validate with: regiozicht-node check --config node.toml
# Relative paths are resolved against this file's directory.
covenant = "covenant.toml"                # owned by the privacy officer
workers = 4                               # queries answered at the same time

# Optional: the values of a dimension this node's records cover (a population register or a municipal
# W&I node covers its own gemeente(n)); `regiozicht-node quality` shows how many persons lie outside.
# [coverage]
# gemeente = ["{gemeenten[0]}"]

[node]
org = "{org}"
kind = "{kind}"
data_as_of = {data_as_of.replace(microsecond=0).isoformat()}   # {"CONFIRM: the extract's declared date" if proposed is not None else "ADAPT: the extract time of the partner data"}
# data_from = 2019-10-01                  # optional: first date the extract covers

[coordinator]
address = "{coordinator}"   # the node dials out; no inbound port

[tls]
ca = "tls/ca.crt"                         # the regional CA certificate, from the CA operator
certificate = "tls/node.crt"              # signed by the CA operator from tls/node.csr
key = "tls/node.key"                      # made here by `regiozicht-node init`, mode 0600

[database]
{database_section}

[state]
url = "{state}"   # releases, ledger and audit trail; back it up

{datasets_intro}'''
    if proposed is not None:
        return head + "\n" + proposed
    body = tomli_w.dumps({"datasets": standard_datasets(kind, gemeenten)}, multiline_strings=True)
    return head + "\n" + body


def covenant_toml(*, kind: str, org: str, datasets: list[dict[str, Any]]) -> str:
    """A covenant covering the kind's datasets (DAT columns only) and its standard links, with placeholders."""
    dat = {d["name"]: sorted(n for n, dim in d["dimensions"].items() if dim["info_class"] == "DAT") for d in datasets}
    purpose: dict[str, Any] = {
        "id": "regio-monitor",
        "description": "Regional monitoring of young people between school and work.",
        "legal_basis": "publieke taak",
        "law": _LAW[kind],
        "wat_allowed": False,
        "datasets": dat,
    }
    # a proposal from files names its datasets after the tables: the standard links apply only where it kept the names
    links = [{"kinds": [partner], "orgs": [], "datasets": own, "partner_datasets": theirs}
             for partner, own, theirs in _LINKS[kind] if set(own) <= set(dat)]
    if links:
        purpose["linking"] = links
    body = tomli_w.dumps({
        "organisation": org,
        "budget": {"period": "calendar-year", "epsilon": "20", "delta": "0.000001"},
        "limits": {"max_epsilon": "1", "max_delta": "0.000000002", "typical_epsilon": "0.5"},
        "parties": [{"role": "analyst", "org": f"{PLACEHOLDER}: the analysts' organisation",
                     "purposes": ["regio-monitor"]}],
        "purposes": [purpose],
        "linked": {"counters": [f"{PLACEHOLDER}: the counter's organisation"] if links else [], "pair_epsilon": "4"},
        "suppression": [{"below": 10, "purposes": [], "datasets": []}],
    })
    return f'''# covenant.toml for {org} ({kind}), a template written by `regiozicht-node init`.
# Owned by the privacy officer (docs/governance.md): replace every "{PLACEHOLDER}: …" value, check the
# purpose's legal basis and law, the datasets and columns it allows and who this node's data may be
# linked with, then run `regiozicht-node covenant check`. The node refuses to serve while a
# placeholder is left. Service identities (a scheduled dashboard) are listed as parties with the
# sha256 of each query they may run (`regiozicht monitor hashes`, `regiozicht query count … --hash`).

{body}'''


def init_node(directory: Path, *, kind: str, org: str, coordinator: str, database: str | None, state_dir: Path | None,
              entity: str | None = None, data_as_of: dt.datetime | None = None,
              gemeenten: tuple[str, ...] = DEFAULT_GEMEENTEN, files: Path | None = None) -> NodeFiles:
    """Writes node.toml, covenant.toml, the state folder, the key (0600) and the request; never overwrites.

    With `files` (a folder of extracts instead of a `database` URL) the datasets are proposed from the
    extracts' columns (node/propose.py), each choice marked `# CONFIRM`; NodeFiles.proposals holds them.
    """
    if (database is None) == (files is None):
        raise ConfigError("Give exactly one of --database (a database URL) and --files (a folder of extracts).")
    try:
        identity = Identity("node", org, kind, entity)
    except ValueError as exc:
        raise ConfigError(f"{exc}") from None
    directory = directory.resolve()
    config, covenant = directory / "node.toml", directory / "covenant.toml"
    key, request = directory / "tls" / "node.key", directory / "tls" / "node.csr"
    refuse_existing(config, covenant, key)
    state = (state_dir or directory / "state").resolve()
    state_url = "sqlite:///" + _relative(state / "node-state.sqlite", directory)
    as_of = data_as_of or dt.datetime.combine(dt.date.today(), dt.time())
    proposals: tuple[Proposal, ...] = ()
    proposed = None
    if files is not None:
        if not files.is_dir():
            raise ConfigError(f"The extract folder {files} does not exist; give --files the folder of the extracts.")
        found, skipped = propose(files)
        proposals = tuple(found)
        datasets = [p.dataset() for p in proposals]
        proposed = datasets_toml(proposals, skipped)
        database = _relative(files.resolve(), directory)
    else:
        datasets = standard_datasets(kind, gemeenten)
    assert database is not None
    directory.mkdir(parents=True, exist_ok=True)
    config.write_text(node_toml(kind=kind, org=org, coordinator=coordinator, database=database, state=state_url,
                                data_as_of=as_of, gemeenten=gemeenten, proposed=proposed), encoding="utf-8")
    covenant.write_text(covenant_toml(kind=kind, org=org, datasets=datasets), encoding="utf-8")
    make_state_folder(state)
    authority.make_request(key, request, identity)
    return NodeFiles(config, covenant, state, key, request, proposals)


def make_state_folder(state: Path) -> None:
    """The state folder, readable by its owner only (it holds the ledger and the audit trail)."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)


def refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConfigError(f"{path} already exists; init never overwrites a file — remove it or choose another "
                              "--dir.")


def _relative(path: Path, base: Path) -> str:
    """A path inside the config folder stays relative (the folder can move); others are absolute."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def next_steps(files: NodeFiles, *, kind: str, org: str, entity: str | None) -> list[str]:
    entity_flag = f" --entity {entity}" if entity else ""
    adapt = (f"confirm or correct every `# CONFIRM` line of the proposed datasets in {files.config}" if files.proposals
             else f"adapt the datasets' SQL in {files.config} where your database differs")
    return [
        (f"send {files.request} to the CA operator, who signs it: `regiozicht pki sign node.csr --role node "
         f"--org {org} --kind {kind}{entity_flag} --ca-dir ca/ --out node.crt`"),
        (f"put the signed certificate at {files.request.parent / 'node.crt'} and the region's CA certificate at "
         f"{files.request.parent / 'ca.crt'}"),
        f"the privacy officer fills in {files.covenant} and runs `regiozicht-node covenant check -c {files.config}`",
        (f"{adapt}, then run "
         f"`regiozicht-node check -c {files.config}` and `regiozicht-node quality -c {files.config}`"),
        f"start it: `regiozicht-node serve -c {files.config}` (or the systemd unit deploy/systemd/regiozicht-node.service)",
    ]
