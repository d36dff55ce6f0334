"""The SuperLink's side: ask every SuperNode for the count, sum the cells, time each query.

Each query is timed at the ServerApp from the messages' creation to the last reply
pulled (`grid.send_and_receive`, Flower's own polling); the timings and the summed
cells go to the JSON file named by the run config `results`.
"""

import json
import time

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict  # type: ignore[import-not-found]
from flwr.serverapp import Grid, ServerApp  # type: ignore[import-not-found]

app = ServerApp()


def ask(grid: Grid, nodes: list[int], peildatum: str) -> dict[str, int]:
    query = RecordDict({"query": ConfigRecord({"peildatum": peildatum})})
    messages = [Message(content=query, message_type=MessageType.QUERY, dst_node_id=node) for node in nodes]
    replies = list(grid.send_and_receive(messages))
    if len(replies) != len(nodes) or any(reply.has_error() for reply in replies):
        raise RuntimeError(f"{len(replies)} of {len(nodes)} SuperNodes answered, or one answered an error")
    total: dict[str, int] = {}
    for reply in replies:
        for gemeente, n in reply.content["cells"].items():
            total[gemeente] = total.get(gemeente, 0) + int(n)
    return total


@app.main()  # type: ignore[untyped-decorator]
def main(grid: Grid, context: Context) -> None:
    """Wait for the SuperNodes, warm up, then time `queries` counts."""
    wanted = int(context.run_config["nodes"])
    deadline = time.monotonic() + 300
    while len(nodes := sorted(grid.get_node_ids())) < wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(nodes)} of {wanted} SuperNodes connected")
        time.sleep(0.5)
    peildatum = str(context.run_config["peildatum"])
    for _ in range(int(context.run_config["warmup"])):
        ask(grid, nodes, peildatum)
    seconds, cells = [], {}
    for _ in range(int(context.run_config["queries"])):
        started = time.perf_counter()
        cells = ask(grid, nodes, peildatum)
        seconds.append(time.perf_counter() - started)
    with open(str(context.run_config["results"]), "w", encoding="utf-8") as out:
        json.dump({"nodes": len(nodes), "seconds": seconds, "cells": cells}, out)
