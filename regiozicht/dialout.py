"""What every party that dials out to the coordinator shares (nodes and counters):
reconnecting with jittered exponential backoff, and the outbox drained into the stream.

Neither opens an inbound port; the coordinator never dials them.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable, Iterator

import grpc

from regiozicht.errors import RegiozichtError
from regiozicht.v1 import regiozicht_pb2 as pb

log = logging.getLogger(__name__)

STOP = object()  # put in an outbox: the stream ends


def reconnect(serve_once: Callable[[], None], stopping: threading.Event, address: str,
              on_disconnect: Callable[[], None] = lambda: None) -> None:
    """Runs `serve_once` (one stream) until `stopping` is set; waits 0.5 s … 30 s between tries."""
    delay = 0.5
    while not stopping.is_set():
        try:
            serve_once()
            delay = 0.5
        except grpc.RpcError as exc:
            log.warning("connection to coordinator %s lost: %s", address,
                        exc.details() if hasattr(exc, "details") else exc)
        except RegiozichtError as exc:
            log.error("%s", exc.message)
        on_disconnect()
        if stopping.wait(delay * (0.5 + random.random())):
            break
        delay = min(delay * 2, 30.0)


def drain(outbox: queue.Queue[object], stopping: threading.Event,
          build: Callable[[object], pb.NodeMessage | None] = lambda item: None) -> Iterator[pb.NodeMessage]:
    """The outbox as the stream's requests, until STOP; `build` turns a placeholder into a
    message when it is sent (None: skip it)."""
    while not stopping.is_set():
        try:
            item = outbox.get(timeout=0.5)
        except queue.Empty:
            continue
        if item is STOP:
            return
        if not isinstance(item, pb.NodeMessage):
            item = build(item)
            if item is None:
                continue
        yield item
