"""The coordinator's "answered before" lookup costs the same however many queries its history holds
and however often one body was asked: it reads an index, never scans the releases (issue 14).
Measured in SQLite virtual-machine steps, which are deterministic, not in seconds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy import event

from coordinator.history import History
from regiozicht.v1 import regiozicht_pb2 as pb


def _response(*orgs: str) -> pb.SubmitResponse:
    return pb.SubmitResponse(count=pb.CountOutcome(results=[pb.NodeResult(org=org, answer=pb.Signed(payload=b"x"))
                                                       for org in orgs]))


def _body(index: int) -> bytes:
    return json.dumps({"dataset": "registratie", "epsilon": f"0.{index + 1:06d}"}).encode()


def _fill(history: History, start: int, stop: int) -> None:
    for index in range(start, stop):
        history.record(f"q{index}", "analyst", "registratie", _body(index), _response("school-1"), [])


def _steps(history: History, body: bytes) -> tuple[set[str], int]:
    """What the lookup returns and how many SQLite VM steps it took."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    history.engine.dispose()  # new connections only, each with the step counter

    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.set_progress_handler(count, 1)

    event.listen(history.engine, "connect", _on_connect)
    try:
        steps[0] = 0
        orgs = history.answered_before(body)
        return orgs, steps[0]
    finally:
        event.remove(history.engine, "connect", _on_connect)
        history.engine.dispose()


def test_the_lookup_does_not_grow_with_the_history(tmp_path: Path) -> None:
    history = History(f"sqlite:///{tmp_path / 'coordinator.sqlite'}")
    asked = b'{"dataset":"registratie","epsilon":"1"}'
    history.record("first", "analyst", "registratie", asked, _response("school-1", "school-2"), [])
    _fill(history, 0, 50)
    small = _steps(history, asked)
    _fill(history, 50, 1500)
    for repeat in range(200):  # one body asked again and again: still one row per org
        history.record(f"again{repeat}", "analyst", "registratie", asked, _response("school-1"), [])
    large = _steps(history, asked)
    assert small[0] == large[0] == {"school-1", "school-2"}
    assert large[1] <= small[1] + 20, f"lookup took {small[1]} steps at 51 rows and {large[1]} at 1751"
    assert history.answered_before(b"never asked") == set()


def test_a_store_from_before_the_index_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "coordinator.sqlite"
    History(f"sqlite:///{path}").record("q1", "analyst", "registratie", _body(1), _response("school-1"), [])
    with sqlite3.connect(path) as connection:  # the store as an older coordinator left it
        connection.execute("DROP TABLE answered")
        connection.execute("INSERT INTO releases (query_id, requester, dataset, body, results, summary, received_at) "
                           "VALUES ('q2', 'analyst', 'registratie', ?, x'', ?, 0)",
                           (_body(1), json.dumps({"answered": ["school-2"], "failed": {"school-3": "Unavailable"}})))
    history = History(f"sqlite:///{path}")
    assert history.answered_before(_body(1)) == {"school-1", "school-2"}
    assert history.answered_before(_body(2)) == set()
