"""Combining the nodes' signed answers into one regional figure.

The coordinator's sum is a convenience: the CLI verifies every answer and
recomputes the sum itself, so a coordinator cannot alter results.
"""

from __future__ import annotations

from collections.abc import Sequence

from regiozicht import dp
from regiozicht.errors import RegiozichtError
from regiozicht.pki import TrustStore
from regiozicht.signed import open_signed
from regiozicht.v1 import regiozicht_pb2 as pb


def answers_of(results: Sequence[pb.NodeResult], trust: TrustStore) -> list[pb.Answer]:
    """The verified answers among the results (failed or unverifiable ones skipped)."""
    answers = []
    for result in results:
        if not result.HasField("answer"):
            continue
        try:
            payload, signer = open_signed(result.answer, trust, ("node",))
        except RegiozichtError:
            continue
        answer = pb.Answer()
        answer.ParseFromString(payload)
        if signer.org == result.org == answer.org:
            answers.append(answer)
    return answers


def sum_cells(answers: Sequence[pb.Answer]) -> list[pb.Cell]:
    """Per-cell sums with the exact 95% interval of the summed noise."""
    if not answers:
        return []
    groups = [tuple(c.group) for c in answers[0].cells]
    for answer in answers[1:]:
        if [tuple(c.group) for c in answer.cells] != groups:
            raise RegiozichtError(
                f"Node {answer.org} answered with other cells than {answers[0].org}; "
                "the nodes publish different domains for this dataset and cannot be summed."
            )
    width = dp.sum_half_width([a.noise_scale for a in answers])
    combined = []
    for index, group in enumerate(groups):
        if any(a.cells[index].suppressed for a in answers):
            # a part withheld by one node's covenant withholds the sum
            combined.append(pb.Cell(group=list(group), suppressed=True))
            continue
        value = sum(a.cells[index].value for a in answers)
        combined.append(pb.Cell(group=list(group), value=value, ci_low=value - width, ci_high=value + width))
    return combined


def sum_or_nothing(answers: Sequence[pb.Answer]) -> list[pb.Cell]:
    """The coordinator's convenience sum; none where the nodes' cells disagree (the CLI says why)."""
    try:
        return sum_cells(answers)
    except RegiozichtError:
        return []
