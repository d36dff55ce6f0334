"""`regiozicht counter`: run the region's linked-count counter."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from counter import config as counter_config
from regiozicht.cli_support import exit_on_error, wait_for_signal

app = typer.Typer(help="Run a linked-count counter (an organisation that is party to none of its runs).",
                  no_args_is_help=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="counter.toml")]


@app.command()
def check(config: ConfigOption) -> None:
    """Validate the config, certificate (role counter) and key."""
    from counter.service import CounterService

    with exit_on_error():
        service = CounterService(counter_config.load(config))
        Console().print(f"[green]ok[/]: counter {service.config.counter.org}, dialing "
                        f"{service.config.coordinator.address}")


@app.command()
def serve(config: ConfigOption, log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO") -> None:
    """Dial the coordinator and count linked runs until stopped."""
    from counter.service import CounterService
    from regiozicht.group import GroupPool

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s counter %(name)s: %(message)s")
    with exit_on_error():
        cfg = counter_config.load(config)
        pool = GroupPool(cfg.counter.workers or None).start()  # before gRPC starts its threads
        service = CounterService(cfg, pool)
        thread = threading.Thread(target=service.run, daemon=True, name="counter")
        thread.start()
        wait_for_signal()
        service.stop()
        pool.close()
