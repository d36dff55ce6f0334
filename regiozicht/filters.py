"""The filter grammar of `--where`, parsed into a small JSON-able tree.

Grammar (keywords are case-insensitive)::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | atom
    atom     := "(" expr ")"
              | NAME op VALUE
              | NAME ["not"] "in" "(" VALUE ("," VALUE)* ")"
    op       := "=" | "!=" | "<" | "<=" | ">" | ">="
    VALUE    := 'quoted' | "quoted" | bare word of letters, digits, _ . -

The tree is normalised so that equal filters have equal canonical bytes:
nested and/or are flattened, `in` lists sorted and de-duplicated, a
one-element `in` becomes `=`, and `not in` becomes `not` of `in`. Values are
strings: dimensions have public string domains.

Tree forms: ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": tree}``,
``{"cmp": [name, op, value]}``, ``{"in": [name, [values...]]}``.
"""

from __future__ import annotations

import re
from typing import Any

from regiozicht.errors import BadQuery

Tree = dict[str, Any]

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) | (?P<comma>,) |
        (?P<op><=|>=|!=|=|<|>) |
        '(?P<sq>[^']*)' | "(?P<dq>[^"]*)" |
        (?P<word>[A-Za-z0-9_.\-]+)
    )""",
    re.VERBOSE,
)
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_KEYWORDS = {"and", "or", "not", "in"}
_MAX_LENGTH = 4000
MAX_DEPTH = 32  # nesting of and/or/not/brackets; a deeper (hand-signed) tree is refused, never a crash
MAX_NODES = 1000


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise BadQuery(
                f"The filter cannot be read at position {pos + 1} ({text[pos:pos + 12]!r}); "
                "see `regiozicht query count --help` for the filter grammar."
            )
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind in ("sq", "dq"):
            tokens.append(("value", value))
        elif kind == "word" and value.lower() in _KEYWORDS:
            tokens.append(("kw", value.lower()))
        else:
            tokens.append((kind, value))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            wanted = value or kind
            found = "the end" if token is None else repr(token[1])
            raise BadQuery(f"The filter expects {wanted} but found {found}; check the filter syntax.")
        self.pos += 1
        return token[1]

    def at_keyword(self, word: str) -> bool:
        return self.peek() == ("kw", word)

    def expr(self) -> Tree:
        parts = [self.and_expr()]
        while self.at_keyword("or"):
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else {"or": parts}

    def and_expr(self) -> Tree:
        parts = [self.not_expr()]
        while self.at_keyword("and"):
            self.pos += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else {"and": parts}

    def not_expr(self) -> Tree:
        if self.at_keyword("not"):
            self.pos += 1
            self._deeper()
            inner = self.not_expr()
            self.depth -= 1
            return {"not": inner}
        return self.atom()

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BadQuery(f"The filter nests deeper than {MAX_DEPTH} levels; write it flatter.")

    def value(self) -> str:
        token = self.peek()
        if token is None or token[0] not in ("value", "word"):
            found = "the end" if token is None else repr(token[1])
            raise BadQuery(f"The filter expects a value but found {found}; quote values with spaces.")
        self.pos += 1
        return token[1]

    def atom(self) -> Tree:
        if self.peek() == ("lpar", "("):
            self.pos += 1
            self._deeper()
            inner = self.expr()
            self.take("rpar", ")")
            self.depth -= 1
            return inner
        name = self.take("word")
        negate = False
        if self.at_keyword("not"):
            self.pos += 1
            negate = True
            if not self.at_keyword("in"):
                raise BadQuery(f"After `{name} not` the filter expects `in`; write `not {name} = …` instead.")
        if self.at_keyword("in"):
            self.pos += 1
            self.take("lpar", "(")
            values = [self.value()]
            while self.peek() == ("comma", ","):
                self.pos += 1
                values.append(self.value())
            self.take("rpar", ")")
            tree: Tree = {"in": [name, values]}
            return {"not": tree} if negate else tree
        op = self.take("op")
        return {"cmp": [name, op, self.value()]}


def parse(text: str) -> Tree:
    """Parses a filter expression into a normalised tree."""
    if len(text) > _MAX_LENGTH:
        raise BadQuery(f"The filter is longer than {_MAX_LENGTH} characters; split the question.")
    tokens = _tokenize(text)
    if not tokens:
        raise BadQuery("The filter is empty; leave out --where to count everyone.")
    parser = _Parser(tokens)
    tree = parser.expr()
    extra = parser.peek()
    if extra is not None:
        raise BadQuery(f"The filter has extra text from {extra[1]!r} on; check the brackets and operators.")
    return normalise(tree)


def normalise(tree: Tree) -> Tree:
    """Returns the canonical form of a (possibly hand-written) tree; validates its shape and size."""
    _check_size(tree)
    return _normalise(tree)


def _check_size(tree: Any) -> None:
    """Refuses a tree deeper than MAX_DEPTH or larger than MAX_NODES, without recursion."""
    pending, seen = [(tree, 0)], 0
    while pending:
        node, depth = pending.pop()
        seen += 1
        if depth > MAX_DEPTH or seen > MAX_NODES:
            raise BadQuery(f"The filter nests deeper than {MAX_DEPTH} levels or has more than {MAX_NODES} parts; "
                           "write it flatter.")
        if isinstance(node, dict):
            pending.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            pending.extend((value, depth + 1) for value in node)


def _normalise(tree: Tree) -> Tree:
    if not isinstance(tree, dict) or len(tree) != 1:
        raise BadQuery("A filter node must be an object with one key; rebuild the query with the CLI.")
    (key, arg), = tree.items()
    if key in ("and", "or"):
        if not isinstance(arg, list) or len(arg) < 2:
            raise BadQuery(f"`{key}` needs at least two parts; rebuild the query with the CLI.")
        flat: list[Tree] = []
        for part in (_normalise(p) for p in arg):
            flat.extend(part.get(key, [part]))
        return {key: flat}
    if key == "not":
        inner = _normalise(arg)
        negated: Tree = inner.get("not", {"not": inner})
        return negated
    if key == "cmp":
        if not (isinstance(arg, list) and len(arg) == 3 and all(isinstance(a, str) for a in arg)):
            raise BadQuery("A comparison must be [name, operator, value]; rebuild the query with the CLI.")
        name, op, value = arg
        _check_name(name)
        if op not in OPERATORS:
            raise BadQuery(f"Unknown operator {op!r}; use one of {', '.join(OPERATORS)}.")
        return {"cmp": [name, op, value]}
    if key == "in":
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], list)
                and arg[1] and all(isinstance(v, str) for v in arg[1])):
            raise BadQuery("An `in` test must be [name, [values]]; rebuild the query with the CLI.")
        _check_name(arg[0])
        values = sorted(set(arg[1]))
        if len(values) == 1:
            return {"cmp": [arg[0], "=", values[0]]}
        return {"in": [arg[0], values]}
    raise BadQuery(f"Unknown filter element {key!r}; use and, or, not, comparisons and in-lists.")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise BadQuery(f"{name!r} is not a column name; use the dimension names `regiozicht catalog` lists.")


def columns(tree: Tree) -> set[str]:
    """All column names a tree refers to."""
    (key, arg), = tree.items()
    if key in ("and", "or"):
        return set().union(*(columns(p) for p in arg))
    if key == "not":
        return columns(arg)
    return {arg[0]}


def render(tree: Tree) -> str:
    """Writes a tree back in the grammar (for display and round trips)."""
    (key, arg), = tree.items()
    if key in ("and", "or"):
        return f" {key} ".join(f"({render(p)})" if ("and" in p or "or" in p) else render(p) for p in arg)
    if key == "not":
        return f"not ({render(arg)})"
    if key == "cmp":
        return f"{arg[0]} {arg[1]} {_quote(arg[2])}"
    return f"{arg[0]} in ({', '.join(_quote(v) for v in arg[1])})"


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.\-]+", value) and value.lower() not in _KEYWORDS:
        return value
    return f"'{value}'" if "'" not in value else f'"{value}"'


def evaluate(tree: Tree, row: dict[str, str]) -> bool:
    """Evaluates a tree over one row of dimension values (used by tests and the truth)."""
    (key, arg), = tree.items()
    if key == "and":
        return all(evaluate(p, row) for p in arg)
    if key == "or":
        return any(evaluate(p, row) for p in arg)
    if key == "not":
        return not evaluate(arg, row)
    if key == "in":
        return row[arg[0]] in arg[1]
    name, op, value = arg
    left = row[name]
    outcome: bool = {
        "=": left == value, "!=": left != value, "<": left < value,
        "<=": left <= value, ">": left > value, ">=": left >= value,
    }[op]
    return outcome
