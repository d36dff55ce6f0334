"""Linked counts end to end: node processes, an in-process coordinator (so the
tests can watch and tamper with what it relays), mutual TLS, sealing."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from coordinator.cli.main import app
from demo.region import COUNTER_ORG, PartnerSetup
from regiozicht import group, psi
from regiozicht.errors import AuthenticationFailed, BadQuery, PermissionDenied, RegiozichtError
from regiozicht.v1 import regiozicht_pb2 as pb
from synth.bsn import is_valid_bsn
from tests.linked_region import Relay, relayed_region, synth_partners

pytestmark = pytest.mark.processes  # starts real processes: left out of `make test-fast`

PEILDATUM = dt.date(2026, 10, 1)
RMC, WI, WI_GM = "rmc-regio", "sociale-dienst-regio", "werk-inkomen-gm9001"


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    root = tmp_path_factory.mktemp("linked")
    data = root / "data"
    manifest, partners = synth_partners(data)
    # wi-gm9001 may link bijstand with vsv only: its covenant forbids rmc_stock
    partners = [p if p.node_id != "wi-gm9001" else _only_vsv(p) for p in partners]
    with relayed_region(root, partners, data, manifest) as running:
        yield running


def _only_vsv(partner: PartnerSetup) -> PartnerSetup:
    import copy
    import dataclasses

    covenant = copy.deepcopy(partner.covenant)
    assert covenant is not None  # synth_partners writes every partner's covenant
    covenant["purposes"][0]["linking"]["partner_datasets"] = ["vsv"]
    return dataclasses.replace(partner, covenant=covenant)


def test_intervals_cover_the_recorded_truth(relay: Relay) -> None:
    """400 fresh runs (new secrets, each charged) of rmc_stock ∩ bijstand: at
    least 366 of the 95% intervals of ∩, and of ∖, must cover the recorded
    truth (links on valid BSNs only). With coverage exactly 95% fewer than 366
    happen with probability below 0.2% for each; the intervals from the exact
    convolution cover at least 95%, so the false-failure rate of the test is
    below 0.4%."""
    inter_true, only_true = relay.region.truth.linked(("rmc", "rmc_stock"), [("wi-regio", "bijstand")], PEILDATUM)[()]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: relay.ask(), range(400)))
    assert not any(r.failures for r in results)
    covered_inter = sum(r.cells[0].inter_ci[0] <= inter_true <= r.cells[0].inter_ci[1] for r in results)
    covered_only = sum(r.cells[0].only_ci[0] <= only_true <= r.cells[0].only_ci[1] for r in results)
    assert covered_inter >= 366 and covered_only >= 366, (covered_inter, covered_only)
    assert len(relay.linked_charges("rmc")) >= 400


def test_grouped_cells_cover_every_cell_of_the_domain(relay: Relay) -> None:
    result = relay.ask(by=["gemeente"])
    truth = relay.region.truth.linked(("rmc", "rmc_stock"), [("wi-regio", "bijstand")], PEILDATUM, by=["gemeente"])
    assert [c.group for c in result.cells] == list(truth)
    assert result.runs[0].costs == {RMC: ("1", "0.000001"), WI: ("1", "0.000001")}


def test_captured_traffic_holds_no_bsn_and_no_unblinded_hash(relay: Relay) -> None:
    captured: dict[str, list[bytes]] = {}
    tap = lambda run_id, message: captured.setdefault(run_id, []).append(message.SerializeToString())
    relay.server.links.taps.append(tap)
    try:
        result = relay.ask()
    finally:
        relay.server.links.taps.remove(tap)
    assert not result.failures
    (run_id, messages), = captured.items()
    traffic = b"".join(messages)
    parsed = [pb.LinkMessage.FromString(m) for m in messages]
    assert {m.WhichOneof("payload") for m in parsed} == {"key", "sealed", "commit", "points", "verdict",
                                                         "image_commit", "weighted", "outcome", "release"}
    truth = relay.region.truth
    bsns = set(truth.members("rmc", "rmc_stock", PEILDATUM)) | set(truth.members("wi-regio", "bijstand", PEILDATUM))
    assert len(bsns) > 50
    dst = psi.RunContext(result.query_id, run_id, RMC, WI, COUNTER_ORG, 1, 1).dst
    for bsn in bsns:
        assert bsn.encode() not in traffic
        assert group.hash_to_group(dst, bsn.encode()) not in traffic
    assert any(is_valid_bsn(b) for b in bsns)
    # slots travel sealed to the peer node, images sealed to the counter: the relay sees neither in clear
    assert {(m.sealed.step, m.sealed.recipient) for m in parsed if m.WhichOneof("payload") == "sealed"} == \
        {("slots", "peer"), ("images", "counter"), ("proof", "counter")}


def test_a_relay_that_alters_a_list_chunk_fails_the_run_and_both_stay_charged(relay: Relay) -> None:
    def tamper(run_id: str, message: pb.LinkMessage) -> None:
        if message.WhichOneof("payload") == "points" and message.sender == RMC:
            message.points.points = message.points.points[:-1] + bytes([message.points.points[-1] ^ 1])

    relay.server.links.taps.append(tamper)
    try:
        result = relay.ask()
    finally:
        relay.server.links.taps.remove(tamper)
    (run,) = result.runs
    # the lists travel in clear to both the peer and the counter, and each checks them against RMC's
    # signed commitment: whichever reports first fails the run. Never RMC, whose lists were altered on
    # the way, and the refusal names the altered lists.
    assert run.failed_org in (WI, COUNTER_ORG), run
    # (the coordinator prefixes a node's refusal with "Node ORG: ", the counter's with its own name)
    refusal = f"The lists of {RMC} differ from its signed commitment"
    assert run.error.startswith(refusal) or run.error.startswith(f"Node {run.failed_org}: {refusal}"), run
    charged = dict(relay.linked_charges("rmc")), dict(relay.linked_charges("wi-regio"))
    assert charged[0][run.run_id] == "charged" and charged[1][run.run_id] == "charged"
    assert not relay.ask().failures  # both nodes keep serving


def test_a_relay_that_cuts_a_sealed_image_chunk_fails_the_run_at_the_counter(relay: Relay) -> None:
    def drop(run_id: str, message: pb.LinkMessage) -> None:
        if message.WhichOneof("payload") == "sealed" and message.sealed.step == "images" and message.sender == WI:
            message.sealed.ciphertext = message.sealed.ciphertext[32:]

    relay.server.links.taps.append(drop)
    try:
        result = relay.ask()
    finally:
        relay.server.links.taps.remove(drop)
    assert result.runs[0].error and result.runs[0].failed_org == COUNTER_ORG and "does not open" in result.runs[0].error


def test_a_covenant_that_forbids_the_link_refuses_before_any_list_and_costs_nothing(relay: Relay) -> None:
    seen: list[str] = []
    tap = lambda run_id, message: seen.append(message.WhichOneof("payload"))
    relay.server.links.taps.append(tap)
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-gm9001")
    try:
        with pytest.raises(PermissionDenied, match="does not allow linking with the partner dataset 'rmc_stock'"):
            relay.ask(other=f"bijstand@{WI_GM}")
    finally:
        relay.server.links.taps.remove(tap)
    assert not {"sealed", "commit", "points"} & set(seen)
    assert (relay.linked_charges("rmc"), relay.linked_charges("wi-gm9001")) == before


def test_two_peers_make_two_runs_and_the_anchor_spends_twice(relay: Relay) -> None:
    result = relay.ask(anchor="vsv@rmc", other="bijstand@wi", delta="1e-7")
    assert not result.failures and len(result.runs) == 2
    spent = [r.costs[RMC] for r in result.runs]
    assert spent == [("1", "0.0000001")] * 2


@pytest.mark.parametrize("anchor,other,options,error,match", [
    ("nope@rmc", "bijstand@wi", {}, BadQuery, "publishes dataset 'nope'"),
    ("vsv@nokind", "bijstand@wi", {}, BadQuery, "No node of kind or organisation 'nokind'"),
    ("vsv@rmc", "bijstand@brp", {}, BadQuery, "publishes dataset 'bijstand'"),
    ("vsv@rmc", "bijstand@wi", {"epsilon": "0"}, BadQuery, "greater than 0"),
    ("vsv@rmc", "bijstand@wi", {"epsilon": "-1"}, BadQuery, "greater than 0"),
    ("rmc_stock@rmc", f"bijstand@{WI}", {"delta": "0.0001"}, PermissionDenied, "per-query limit"),
])
def test_bad_input_is_refused_in_one_sentence_and_costs_nothing(relay: Relay, anchor: str, other: str,
                                                                 options: dict[str, object], error: type[RegiozichtError],
                                                                 match: str) -> None:
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-regio")
    with pytest.raises(error, match=match) as caught:
        relay.ask(anchor=anchor, other=other, **options)
    assert caught.value.message.count(";") <= 1 and caught.value.message.endswith(".")
    assert (relay.linked_charges("rmc"), relay.linked_charges("wi-regio")) == before
    assert not relay.ask().failures  # processes keep serving


def test_the_cli_prints_cells_costs_and_a_dry_run(relay: Relay) -> None:
    runner = CliRunner()
    profile = str(relay.region.files.profile)
    dry = runner.invoke(app, ["query", "linked", "vsv@rmc", "--with", "bijstand@wi", "--epsilon", "1", "--delta",
                              "1e-7", "--purpose", "rmc-monitor", "--dry-run", "--format", "json", "--profile", profile])
    assert dry.exit_code == 0, dry.output
    assert '"epsilon": "2"' in dry.output and '"runs": 2' in dry.output
    real = runner.invoke(app, ["query", "linked", "rmc_stock@rmc", "--with", f"bijstand@{WI}", "--by", "gemeente",
                               "--epsilon", "1", "--delta", "1e-6", "--purpose", "rmc-monitor", "--format", "csv",
                               "--profile", profile])
    assert real.exit_code == 0, real.output
    assert real.output.splitlines()[0] == ("gemeente,in_other,in_other_ci_low,in_other_ci_high,not_in_other,"
                                           "not_in_other_ci_low,not_in_other_ci_high")
    assert "onbekend" in real.output
    bad = runner.invoke(app, ["query", "linked", "vsv@rmc", "--with", "bijstand@wi", "--epsilon", "0",
                              "--purpose", "rmc-monitor", "--profile", profile])
    assert bad.exit_code == 2


def test_a_counter_offline_is_named_exits_6_and_costs_nothing(relay: Relay) -> None:
    """The coordinator sends no LinkRequest when the counter is offline: nothing is charged."""
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-regio")
    running = relay.region.running
    running.stop_process("counter")
    try:
        _wait_for_counters(relay, present=False)
        with pytest.raises(BadQuery, match="No counter is online"):
            relay.ask()
        result = relay.ask(counter=COUNTER_ORG)
        (run,) = result.runs
        assert run.failed_org == COUNTER_ORG and "offline" in run.error
        cli = CliRunner().invoke(app, ["query", "linked", "rmc_stock@rmc", "--with", f"bijstand@{WI}", "--epsilon", "1",
                                       "--delta", "1e-6", "--purpose", "rmc-monitor", "--counter", COUNTER_ORG,
                                       "--profile", str(relay.region.files.profile)])
        assert cli.exit_code == 6, cli.output
        assert (relay.linked_charges("rmc"), relay.linked_charges("wi-regio")) == before
    finally:
        running.start_counter()
        _wait_for_counters(relay, present=True)
    assert not relay.ask().failures


def _wait_for_counters(relay: Relay, *, present: bool) -> None:
    client = relay.region.client()
    try:
        deadline = time.monotonic() + 30
        while (COUNTER_ORG in client.counters()) != present:
            assert time.monotonic() < deadline, "the counter did not come and go in time"
            time.sleep(0.2)
    finally:
        client.close()


def test_a_counter_that_is_a_party_or_not_accepted_is_refused_at_no_cost(relay: Relay) -> None:
    """A second, real counter the covenants do not list: every node refuses before anything is read."""
    import tomli_w

    from demo.region import _issue
    from regiozicht.identity import Identity

    files = relay.region.files
    directory = files.root / "counter2"
    _issue(files, directory, Identity("counter", "ander-teller"))
    (directory / "counter.toml").write_text(tomli_w.dumps({
        "counter": {"org": "ander-teller"}, "coordinator": {"address": f"localhost:{files.port}"},
        "tls": {"ca": "ca.crt", "certificate": "cert.pem", "key": "key.pem"}}))
    running = relay.region.running
    running._spawn("counter2", [sys.executable, "-m", "coordinator.cli.main", "counter", "serve", "--config",
                                str(directory / "counter.toml")])
    before = relay.linked_charges("rmc"), relay.linked_charges("wi-regio")
    try:
        client = relay.region.client()
        try:
            deadline = time.monotonic() + 30
            while "ander-teller" not in client.counters():
                assert time.monotonic() < deadline
                time.sleep(0.2)
        finally:
            client.close()
        with pytest.raises(BadQuery, match="is a party of this linked query"):
            relay.ask(counter=RMC)
        with pytest.raises(PermissionDenied, match="does not accept counter 'ander-teller'"):
            relay.ask(counter="ander-teller")
    finally:
        running.stop_process("counter2")
    assert (relay.linked_charges("rmc"), relay.linked_charges("wi-regio")) == before


def _replace_run(index: int, source: int):  # type: ignore[no-untyped-def]
    def forge(response: pb.SubmitResponse) -> None:
        response.linked.runs[index].CopyFrom(response.linked.runs[source])
    return forge


def _drop_run(response: pb.SubmitResponse) -> None:
    del response.linked.runs[1]


def _swap_acknowledgements(response: pb.SubmitResponse) -> None:
    run = response.linked.runs[0]
    anchor = pb.Signed()
    anchor.CopyFrom(run.anchor_verdict)
    run.anchor_verdict.CopyFrom(run.other_verdict)
    run.other_verdict.CopyFrom(anchor)


def _alter_release(response: pb.SubmitResponse) -> None:
    release = pb.CounterRelease.FromString(response.linked.runs[0].release.payload)
    release.matches[0] += 5  # the coordinator cannot re-sign it
    response.linked.runs[0].release.payload = release.SerializeToString()


def _drop_release(response: pb.SubmitResponse) -> None:
    response.linked.runs[0].ClearField("release")


@pytest.mark.parametrize("forge,match", [
    (_replace_run(1, 0), "twice"),
    (_drop_run, "left out runs"),
    (_swap_acknowledgements, "not .* for this query"),
    (_alter_release, "signature"),
    (_drop_release, "not signed"),
])
def test_the_cli_refuses_a_result_set_the_coordinator_forged(relay: Relay, forge, match: str) -> None:  # type: ignore[no-untyped-def]
    """A lying coordinator: one peer's run in the other's place, a run left out, the nodes'
    acknowledgements swapped, a count altered in the counter's release, the release removed."""
    with pytest.raises(AuthenticationFailed, match=match):
        relay.ask(anchor="vsv@rmc", other="bijstand@wi", delta="1e-7", forge=forge)


def test_the_cli_refuses_a_release_replayed_from_another_query(relay: Relay) -> None:
    earlier: list[pb.Signed] = []
    relay.ask(forge=lambda response: earlier.append(pb.Signed(payload=response.linked.runs[0].release.payload,
                                                              signature=response.linked.runs[0].release.signature,
                                                              certificate=response.linked.runs[0].release.certificate)))

    def replay(response: pb.SubmitResponse) -> None:
        response.linked.runs[0].release.CopyFrom(earlier[0])
    with pytest.raises(AuthenticationFailed, match="not counter regio-teller's for this query"):
        relay.ask(forge=replay)
