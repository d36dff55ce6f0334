"""A dataset's cells: the one definition, on both sides of the trust boundary.

A node answers and links per cell, and the analyst's CLI labels what comes
back by the same list; if the two ever ordered cells differently, linked
cells would be mislabelled without an error. So both call `cell_list`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

ONBEKEND = "onbekend"  # the cell of a missing or out-of-domain value


def cell_list(domains: Mapping[str, Sequence[str]], by: Sequence[str]) -> list[tuple[str, ...]]:
    """Every cell of the public domains of the dimensions `by`, each followed by `onbekend`, in order."""
    return list(itertools.product(*((*domains[name], ONBEKEND) for name in by)))


def covered_cell_list(domains: Mapping[str, Sequence[str]], by: Sequence[str],
                      coverage: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """The cells a node answers: `cell_list`, keeping for each covered dimension only its covered
    values (a node never holds its covered dimension's `onbekend` cell)."""
    return [cell for cell in cell_list(domains, by)
            if all(cell[i] in coverage[name] for i, name in enumerate(by) if name in coverage)]
