"""One side of a linked count: a boolean combination of one node's own datasets.

Grammar of the text before ``@`` (keywords are case-insensitive)::

    set      := and_set ("or" and_set)*
    and_set  := not_set ("and" not_set)*
    not_set  := "not" not_set | "(" set ")" | DATASET

The tree forms are ``{"dataset": name}``, ``{"and": [...]}``, ``{"or": [...]}``
and ``{"not": tree}``. The canonical form, which the signature covers, is the
negation normal form: `not` is pushed down to the datasets (De Morgan, double
negation removed), nested `and`/`or` are flattened, and an operand repeated
in one `and`/`or` is kept once. Operands keep the order written, because the
order means something: the anchor's cells and `--where` come from the first
dataset that is not negated (see `primary`), so ``vsv and rmc_traject`` and
``rmc_traject and vsv`` are different questions.

A set must be bounded by its datasets: a person found in none of them must
not belong to it. So ``not baan`` or ``vsv or not baan`` is refused (it would
be "everyone the node does not know"), and every accepted set has at least
one dataset that is not negated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from regiozicht.errors import BadQuery

Tree = dict[str, Any]

MAX_DATASETS = 8
_MAX_LENGTH = 1000
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")
_TOKEN = re.compile(r"\s*(?:(?P<lpar>\()|(?P<rpar>\))|(?P<word>[A-Za-z0-9_]+))")
_KEYWORDS = {"and", "or", "not"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, text = 0, text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise BadQuery(f"The set {text!r} cannot be read at position {pos + 1}; combine dataset names with "
                           "and, or, not and brackets, e.g. \"baan or bijstand\".")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        out.append(("kw", value.lower()) if kind == "word" and value.lower() in _KEYWORDS else (kind, value))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.pos = text, _tokens(text), 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _fail(self, wanted: str) -> BadQuery:
        token = self.peek()
        found = "the end" if token is None else repr(token[1])
        return BadQuery(f"The set {self.text!r} expects {wanted} but found {found}; check its brackets and "
                        "operators.")

    def expression(self, op: str = "or") -> Tree:
        parts = [self.expression("and") if op == "or" else self.negation()]
        while self.peek() == ("kw", op):
            self.pos += 1
            parts.append(self.expression("and") if op == "or" else self.negation())
        return parts[0] if len(parts) == 1 else {op: parts}

    def negation(self) -> Tree:
        token = self.peek()
        if token == ("kw", "not"):
            self.pos += 1
            return {"not": self.negation()}
        if token == ("lpar", "("):
            self.pos += 1
            inner = self.expression()
            if self.peek() != ("rpar", ")"):
                raise self._fail("`)`")
            self.pos += 1
            return inner
        if token is None or token[0] != "word":
            raise self._fail("a dataset name")
        self.pos += 1
        return {"dataset": token[1]}


def parse(text: str) -> Tree:
    """Parses the text of one side (``baan or bijstand``) into its canonical tree."""
    if len(text) > _MAX_LENGTH:
        raise BadQuery(f"The set is longer than {_MAX_LENGTH} characters; split the question.")
    if not text.strip():
        raise BadQuery("The set is empty; name at least one dataset, e.g. vsv@rmc.")
    parser = _Parser(text)
    tree = parser.expression()
    if parser.peek() is not None:
        raise parser._fail("the end or an operator")
    return normalise(tree)


def normalise(tree: Any) -> Tree:
    """The canonical form of a (possibly hand-written) tree; refuses malformed and unbounded sets."""
    canonical = _nnf(tree, negate=False)
    names = datasets(canonical)
    if len(names) > MAX_DATASETS:
        raise BadQuery(f"A set may combine at most {MAX_DATASETS} datasets; split the question.")
    if _holds(canonical, lambda name: False):
        raise BadQuery(f"The set {render(canonical)!r} holds for persons in none of its datasets (a bare `not`); "
                       "combine `not` with a dataset, e.g. \"vsv and not baan\".")
    return canonical


def _nnf(tree: Any, negate: bool) -> Tree:
    if not isinstance(tree, dict) or len(tree) != 1:
        raise BadQuery("A set element must be an object with one key; rebuild the query with the CLI.")
    (key, arg), = tree.items()
    if key == "dataset":
        if not isinstance(arg, str) or not _NAME.match(arg):
            raise BadQuery(f"{arg!r} is not a dataset name; `regiozicht catalog` lists the datasets.")
        leaf = {"dataset": arg}
        return {"not": leaf} if negate else leaf
    if key == "not":
        return _nnf(arg, not negate)
    if key in ("and", "or"):
        if not isinstance(arg, list) or len(arg) < 2:
            raise BadQuery(f"`{key}` in a set needs at least two parts; rebuild the query with the CLI.")
        op = {"and": "or", "or": "and"}[key] if negate else key
        flat: list[Tree] = []
        for part in (_nnf(p, negate) for p in arg):
            for item in part.get(op, [part]):
                if item not in flat:
                    flat.append(item)
        return flat[0] if len(flat) == 1 else {op: flat}
    raise BadQuery(f"Unknown set element {key!r}; combine datasets with and, or and not.")


def _holds(tree: Tree, member: Callable[[str], bool]) -> bool:
    (key, arg), = tree.items()
    if key == "dataset":
        return member(arg)
    if key == "not":
        return not _holds(arg, member)
    results = (_holds(part, member) for part in arg)
    return all(results) if key == "and" else any(results)


def evaluate(tree: Tree, member: Callable[[str], bool]) -> bool:
    """Whether a person is in the set, given whether they are in each dataset (tests and the truth)."""
    return _holds(tree, member)


def datasets(tree: Tree) -> list[str]:
    """Every dataset the set names, in order of first appearance."""
    (key, arg), = tree.items()
    if key == "dataset":
        return [arg]
    if key == "not":
        return datasets(arg)
    out: list[str] = []
    for part in arg:
        out.extend(name for name in datasets(part) if name not in out)
    return out


def primary(tree: Tree) -> str:
    """The first dataset not under a `not`: at the anchor, where cells and `--where` come from."""
    found = _first_positive(tree)
    if found is None:
        raise BadQuery("The set has no dataset that is not negated; combine `not` with a dataset.")
    return found


def _first_positive(tree: Tree) -> str | None:
    (key, arg), = tree.items()
    if key == "dataset":
        return str(arg)
    if key == "not":
        return None  # in the canonical form `not` wraps one dataset
    return next((name for name in map(_first_positive, arg) if name is not None), None)


def single(tree: Tree) -> str | None:
    """The dataset's name when the set is one dataset, else None."""
    return str(tree["dataset"]) if "dataset" in tree else None


def render(tree: Tree) -> str:
    """The set written back in the grammar (display, audit, round trips)."""
    (key, arg), = tree.items()
    if key == "dataset":
        return str(arg)
    if key == "not":
        return f"not {render(arg)}"
    return f" {key} ".join(f"({render(p)})" if ("and" in p or "or" in p) else render(p) for p in arg)
