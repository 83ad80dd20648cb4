"""Our sync producer, measured like the peers' sync enqueue (see
:mod:`benchmarks._sync_enqueue`): ``SyncQueueService(url).enqueue(topic,
payload)``, as a Flask or Django app uses it, one call per job.

    python -m benchmarks.ours_sync syncenqueue N --url redis://127.0.0.1:PORT/0
"""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks._adapter import main
from benchmarks._sync_enqueue import measure
from benchmarks.ours import TOPIC, OursAdapter
from queue_core import SyncQueueService


def sync_enqueue(args: argparse.Namespace) -> dict[str, Any]:
    queue = SyncQueueService(args.url)
    try:
        return measure(lambda ts: queue.enqueue(TOPIC, repr(ts).encode()), args.n)
    finally:
        queue.close()


if __name__ == "__main__":
    main(OursAdapter, "benchmarks.ours_sync", {"syncenqueue": sync_enqueue})
