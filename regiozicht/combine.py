"""Combining the nodes' signed answers into one regional figure.

The coordinator's sum is a convenience: the CLI verifies every answer and
recomputes the sum itself, so a coordinator cannot alter results.
"""

from __future__ import annotations

from collections.abc import Sequence

from regiozicht import dp
from regiozicht.errors import RegiozichtError
from regiozicht.signed import open_signed
from regiozicht.truststore import TrustStore
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


def sum_cells(answers: Sequence[pb.Answer], order: Sequence[tuple[str, ...]] | None = None) -> list[pb.Cell]:
    """Per-cell sums over the nodes that answered the cell, each with the exact 95% interval of
    the noise summed there (a node covering part of a dimension answers only its cells).

    `order`: every cell in the dataset's order (the analyst's CLI knows it from the Describes);
    without it, cells come in the order the answers first name them.
    """
    if not answers:
        return []
    parts: dict[tuple[str, ...], list[tuple[pb.Answer, pb.Cell]]] = {}
    for answer in answers:
        for cell in answer.cells:
            group = tuple(cell.group)
            if any(a is answer for a, _ in parts.get(group, [])):
                raise RegiozichtError(f"Node {answer.org} answered cell {group} twice; its answer cannot be summed.")
            parts.setdefault(group, []).append((answer, cell))
    groups = list(parts)
    if order is not None:
        position = {group: index for index, group in enumerate(order)}
        unknown = [g for g in groups if g not in position]
        if unknown:
            raise RegiozichtError(f"A node answered cell {unknown[0]}, which the dataset does not have.")
        groups.sort(key=position.__getitem__)
    combined = []
    for group in groups:
        summed = parts[group]
        if any(cell.suppressed for _, cell in summed):
            # a part withheld by one node's covenant withholds the sum
            combined.append(pb.Cell(group=list(group), suppressed=True))
            continue
        value = sum(cell.value for _, cell in summed)
        width = dp.sum_half_width([a.noise_scale for a, _ in summed])
        combined.append(pb.Cell(group=list(group), value=value, ci_low=value - width, ci_high=value + width))
    return combined


def sum_or_nothing(answers: Sequence[pb.Answer]) -> list[pb.Cell]:
    """The coordinator's convenience sum; none where the answers cannot be summed (the CLI says why)."""
    try:
        return sum_cells(answers)
    except RegiozichtError:
        return []
