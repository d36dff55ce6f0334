"""Deliberate breaks of the privacy checks, each of which the tests must catch (issue 19).

For each mutant: copy the repository's tracked files to a temporary directory, apply one small
edit (failing loudly if its target text is not there), and run only the test files that should
catch it, with the copy's code first on PYTHONPATH — inherited by the node, coordinator and
counter processes the tests spawn, whose console scripts import the copy too. A mutant is killed
when pytest reports failing tests (exit 1); any other outcome is a survivor or an error.
Last line: mutants_killed=K/N.

Usage: scripts/mutants.sh [NAME ...]   (no names: every mutant)
Add a mutant here for each privacy-relevant check you write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edit:
    path: str
    old: str
    new: str
    every: bool = False  # replace every occurrence (at least one), else exactly one


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]  # pytest arguments: files, -k expressions


_CHARGE_ON_REFUSAL = '''        except RegiozichtError as exc:
            self.gate.refuse(context, exc, int(moment))
            import uuid as _uuid  # MUTANT: every refusal charges
            with self.state.transaction() as _tx:
                self.ledger.charge(_tx, charge_id=_uuid.uuid4().hex, kind="query", purpose=self.covenant.purposes[0],
                                   epsilon=Decimal("0.01"), delta=Decimal(0), now=int(moment))
            raise
'''

_UNCHECKED_OPEN = '''from regiozicht.signed import open_signed as _checked_open  # noqa: F401


def open_signed(signed, trust, roles):  # type: ignore[no-untyped-def]  # MUTANT: no signature check
    from cryptography import x509

    from regiozicht.identity import identity_of
    return signed.payload, identity_of(x509.load_der_x509_certificate(signed.certificate))
'''

MUTANTS = [
    Mutant("no-noise-plain", "a node releases exact counts",
           (Edit("regiozicht/dp.py", "noisy: list[int] = measurement(list(counts))",
                 "noisy: list[int] = list(counts)"),),
           ("tests/test_count_noise.py", "-k", "nodes_count")),
    Mutant("half-noise-plain", "a node draws half the claimed noise (ε doubled)",
           (Edit("regiozicht/dp.py", "scale=count_scale(epsilon, sensitivity),",
                 "scale=count_scale(epsilon, sensitivity) / 2,"),),
           ("tests/test_count_noise.py", "-k", "nodes_count")),
    Mutant("no-linked-noise", "linked phantoms and dummies are exactly the shift",
           (Edit("regiozicht/linknoise.py", "value: int = self.shift + self._noise(0)",
                 "value: int = self.shift"),),
           ("tests/test_linked_noise.py",)),
    Mutant("half-linked-noise", "linked draws at half the claimed scale",
           (Edit("regiozicht/linknoise.py", "scale=sensitivity / epsilon)", "scale=sensitivity / epsilon / 2)"),),
           ("tests/test_linked_noise.py",)),
    Mutant("free-refresh", "a refresh draws fresh noise without a charge",
           (Edit("node/service.py", '            self.ledger.charge(tx, charge_id=envelope.query_id, kind="query",',
                 '            if not envelope.refresh:  # MUTANT\n'
                 '                self.ledger.charge(tx, charge_id=envelope.query_id, kind="query",'),),
           ("tests/test_federation.py", "-k", "refresh")),
    Mutant("linked-client-checks", "the analyst's checks on linked results removed (signatures, orgs, runs, "
           "the counter's release, runs left out)",
           (Edit("analyst/linked.py", "from regiozicht.signed import open_signed\n", _UNCHECKED_OPEN),
            Edit("analyst/linked.py", "raise AuthenticationFailed(", "_ignored = (", every=True)),
           ("tests/test_linked.py", "-k", "forged or replayed")),
    Mutant("charge-on-refusal", "every refusal is charged",
           (Edit("node/service.py", "        except RegiozichtError as exc:\n"
                 "            self.gate.refuse(context, exc, int(moment))\n            raise\n", _CHARGE_ON_REFUSAL),),
           ("tests/test_node_service.py",)),
    Mutant("suppression-on-exact", "suppression decided on the exact count",
           (Edit("node/service.py", "for cell, value in zip(count_cells(request.dataset, query.by), noisy):",
                 "for cell, value, _exact in zip(count_cells(request.dataset, query.by), noisy, exact):"),
            Edit("node/service.py", "if threshold is not None and value < threshold:",
                 "if threshold is not None and _exact < threshold:")),
           ("tests/test_covenant.py", "-k", "suppression")),
    Mutant("crl-first-only", "a node ignores every revocation list after the first",
           (Edit("node/revocation.py", 'newest seen. Raises AuthenticationFailed otherwise (the loaded list stays)."""\n',
                 'newest seen. Raises AuthenticationFailed otherwise (the loaded list stays)."""\n'
                 '        if getattr(self, "_mutant_seen", False):\n            return\n'
                 '        self._mutant_seen = True\n'),),
           ("tests/test_revocation.py", "-k", "over_the_connection")),
    Mutant("person-counted-twice", "a moved person counted in both cells (sensitivity 2)",
           (Edit("node/compile.py", 'select(*group, func.count().label("n")).where(ranked.c.row_rank == 1)',
                 'select(*group, func.count().label("n")).where(ranked.c.row_rank <= 2)'),),
           ("tests/test_count_noise.py", "-k", "nodes_count")),
    Mutant("result-set-checks", "the analyst's checks on a count's set of answers removed",
           tuple(Edit("analyst/client.py", f"raise AuthenticationFailed({start}", f"_ignored = ({start}")
                 for start in ('f"The answer signed by', 'f"The coordinator returned node',
                               'f"Node {org} answered other cells', '"The coordinator\'s sum differs')),
           ("tests/test_result_sets.py",)),
    Mutant("outside-coverage-released", "a node counts rows outside its declared coverage",
           (Edit("node/compile.py", "        statement = statement.where(ranked.c[name].in_(values))\n",
                 "        pass  # MUTANT: coverage not applied\n"),),
           ("tests/test_coverage.py", "-k", "never_released or summed")),
    Mutant("split-not-disjoint", "a split whose peers share values is accepted (the anchor's ε once, yet a "
                                 "person in two runs)",
           (Edit("regiozicht/linkquery.py", "ONBEKEND in values or seen & set(values)", "ONBEKEND in values"),),
           ("tests/test_linked_split.py", "-k", "sharing_a_value")),
    Mutant("split-charged-once-always", "the anchor's pool pays once for any linked query, split or not",
           (Edit("node/linkruns.py", 'split = plan.role == "anchor" and plan.query.split is not None',
                 'split = plan.role == "anchor"'),),
           ("tests/test_linked_split.py", "-k", "once_per_run")),
    Mutant("no-covenant-min-epsilon", "a node accepts an ε below its covenant's minimum",
           (Edit("node/policy.py", "if Decimal(query.epsilon) < Decimal(covenant.limits.min_epsilon):",
                 "if False:"),),
           ("tests/test_tiny_epsilon.py", "-k", "covenant_minimum")),
    Mutant("crl-not-kept", "a restarted node forgets the newest revocation list it accepted",
           (Edit("node/revocation.py", "            if newest is not None:", "            if False:"),),
           ("tests/test_revocation.py", "-k", "restarted")),
    Mutant("issuer-unchecked-when-cached", "the trust store's certificate cache skips the CA check on first sight",
           (Edit("regiozicht/truststore.py", "known = (cert, self._check_issued(cert))",
                 "known = (cert, identity_of(cert))"),),
           ("tests/test_pki.py", "-k", "other_ca_certificate or ca_certificate_is_not")),
]


def copy_tracked(destination: Path) -> None:
    """The working tree's tracked (and untracked, not ignored) files: uncommitted edits included."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def apply(copy: Path, edit: Edit) -> None:
    path = copy / edit.path
    text = path.read_text()
    found = text.count(edit.old)
    if found == 0 or (found > 1 and not edit.every):
        raise SystemExit(f"mutant edit of {edit.path}: expected {'some' if edit.every else 'one'} occurrence of "
                         f"{edit.old!r}, found {found}; update scripts/mutants.py")
    path.write_text(text.replace(edit.old, edit.new))


def run(mutant: Mutant, python: str) -> str:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as scratch:
        copy = Path(scratch) / "repo"
        copy_tracked(copy)
        for edit in mutant.edits:
            apply(copy, edit)
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        probe = subprocess.run([python, "-c", ("import node.service, analyst.client; "
                                               "print(node.service.__file__)")],
                               cwd=copy, env=env, capture_output=True, text=True, check=False)
        if not probe.stdout.startswith(str(copy)):
            raise SystemExit(f"the copy's code is not the one imported: {probe.stdout}{probe.stderr}")
        out = subprocess.run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                              f"--basetemp={Path(scratch) / 'tmp'}", *mutant.tests],
                             cwd=copy, env=env, capture_output=True, text=True, check=False)
        if out.returncode == 1:
            failed = [line.split(" - ")[0].removeprefix("FAILED ") for line in out.stdout.splitlines()
                      if line.startswith(("FAILED ", "ERROR "))]
            return f"killed   by {failed[0] if failed else '?'}"
        if out.returncode == 0:
            return "SURVIVED"
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-5:])
        return f"ERROR (pytest exit {out.returncode}): {tail}"


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutants: {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in MUTANTS)}")
    python = os.environ.get("MUTANTS_PYTHON", sys.executable)
    killed = 0
    for mutant in chosen:
        started = time.monotonic()
        outcome = run(mutant, python)
        killed += outcome.startswith("killed")
        print(f"{mutant.name:22} {time.monotonic() - started:4.0f} s  {mutant.what}\n{'':22} {outcome}", flush=True)
    print(f"mutants_killed={killed}/{len(chosen)}")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
