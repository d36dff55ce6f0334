"""The analyst's CLI verifies the set of answers, not only each answer: a coordinator that puts
one node's signed answer in another's place, appends a second copy, drops an answer or returns
nothing gets refused, or the node is named as missing (exit 6) — never a silent wrong total."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from analyst.client import AnalystClient
from regiozicht.errors import AuthenticationFailed
from regiozicht.query import build_count
from regiozicht.v1 import regiozicht_pb2 as pb
from tests import tiny
from tests.conftest import TinyRegion, forge_responses

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

Forge = Callable[[pb.SubmitResponse], None]


def _ask(region: TinyRegion, forge: Forge) -> Any:
    client: AnalystClient = region.client()
    forge_responses(client, forge)
    try:
        query = build_count("registratie", epsilon="1", purpose="test", peildatum=tiny.PEILDATUM, by=["sex"])
        return client.count(query)
    finally:
        client.close()


def _one_in_the_others_place(response: pb.SubmitResponse) -> None:
    response.count.results[1].answer.CopyFrom(response.count.results[0].answer)


def _a_second_copy(response: pb.SubmitResponse) -> None:
    response.count.results.append(response.count.results[0])


def _copy_under_the_other_name(response: pb.SubmitResponse) -> None:
    copy = pb.NodeResult()
    copy.CopyFrom(response.count.results[0])
    copy.org = response.count.results[1].org
    del response.count.results[1]
    response.count.results.append(copy)


def _a_linked_outcome_instead(response: pb.SubmitResponse) -> None:
    response.linked.SetInParent()  # the oneof: the count's outcome is gone


@pytest.mark.parametrize("forge,match", [
    (_a_linked_outcome_instead, "not a count's outcome"),
    (_one_in_the_others_place, "not its answer"),
    (_a_second_copy, "twice"),
    (_copy_under_the_other_name, "not its answer"),
])
def test_a_forged_set_of_answers_is_refused(region: TinyRegion, forge: Forge, match: str) -> None:
    with pytest.raises(AuthenticationFailed, match=match):
        _ask(region, forge)


def _drop_the_second(response: pb.SubmitResponse) -> None:
    dropped = response.count.results[1].org
    del response.count.results[1]
    del response.count.combined[:]
    response.count.combined.extend(_sum_of(response, exclude=dropped))


def _sum_of(response: pb.SubmitResponse, exclude: str) -> list[pb.Cell]:
    from regiozicht.combine import sum_cells

    answers = [pb.Answer.FromString(r.answer.payload) for r in response.count.results if r.org != exclude]
    return list(sum_cells(answers))


def _drop_everything(response: pb.SubmitResponse) -> None:
    del response.count.results[:]
    del response.count.combined[:]


@pytest.mark.parametrize("forge,missing", [(_drop_the_second, 1), (_drop_everything, 2)])
def test_a_publisher_left_out_is_named_missing(region: TinyRegion, forge: Forge, missing: int) -> None:
    result = _ask(region, forge)
    assert len(result.failures) == missing
    assert all("returned nothing for node" in f.error for f in result.failures)
    assert {f.org for f in result.failures} <= {"school-1", "school-2"}
