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
              on_disconnect: Callable[[], None] = lambda: None,
              connected: threading.Event | None = None,
              diagnose: Callable[[], RegiozichtError | None] = lambda: None) -> None:
    """Runs `serve_once` (one stream) until `stopping` is set; waits 0.5 s … 30 s between tries, jittered.

    Each failure is one log line saying why and when the next try is: a stream that was up (`connected`
    set) was lost; otherwise the coordinator could not be reached, or `diagnose` names who answered instead.
    """
    delay = 0.5
    while not stopping.is_set():
        why = ""
        try:
            serve_once()
            delay = 0.5
        except grpc.RpcError as exc:
            details = exc.details() if hasattr(exc, "details") else str(exc)
            if connected is not None and connected.is_set():
                why = f"connection to the coordinator at {address} lost ({details})"
            else:
                impostor = diagnose()
                why = (impostor.message.rstrip(".") if impostor is not None
                       else f"cannot reach the coordinator at {address} ({details})")
        except RegiozichtError as exc:
            why = exc.message.rstrip(".")
        on_disconnect()
        wait = delay * (0.5 + random.random())
        if why and not stopping.is_set():
            log.warning("%s; retrying in %.2f s", why, wait)
        if stopping.wait(wait):
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
