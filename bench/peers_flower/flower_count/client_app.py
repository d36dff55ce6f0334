"""The SuperNode's side: the grouped count on its own SQLite table, as a `@app.query()`."""

import sqlite3

from flwr.app import Context, Message, MetricRecord, RecordDict  # type: ignore[import-not-found]
from flwr.clientapp import ClientApp  # type: ignore[import-not-found]

app = ClientApp()

# A plain grouped COUNT(*) over the node's persons on the reference date: the same cells the
# Regiozicht node answers, without its per-person reduction or noise (cheaper than ours).
COUNT = "SELECT gemeente, count(*) FROM person WHERE datum <= ? GROUP BY gemeente"


@app.query()  # type: ignore[untyped-decorator]
def count(message: Message, context: Context) -> Message:
    """Count the node's persons per gemeente and send the cells back to the ServerApp."""
    peildatum = str(message.content["query"]["peildatum"])
    with sqlite3.connect(f"file:{context.node_config['database']}?mode=ro", uri=True) as database:
        cells = {str(gemeente): int(n) for gemeente, n in database.execute(COUNT, (peildatum,))}
    return Message(RecordDict({"cells": MetricRecord(cells)}), reply_to=message)
