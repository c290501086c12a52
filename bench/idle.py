"""The idle connections scenario: as many idle connections as asked (100,000 in a full run) on
one roomkey process, Socket.IO and Pusher protocol each, with and without a
permessage-deflate offer.

One server process (``bench/servers/roomkey_node.py``, which raises its own open-file limit to
the hard limit) and one load generator (``bench/loadgen.py --source-addresses 8``: clients
spread over 127.0.0.1 to 127.0.0.8, so ephemeral ports do not run out; it raises its own
limit too). Each connection is a socket in each process, so the count is bounded by the
open-file hard limit a process may reach: when that is below the count asked for, the
scenario runs with as many connections as the limit allows (less a margin for the process's
other files) and says so (``limited_by``), instead of failing or pretending. Reported:
connect rate, memory per connection (RSS growth over the connections / n), one broadcast's
arrival p50/p99/max at every client, and the server CPU per delivery (from every client
subscribed to the broadcast's last arrival).
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Sequence
from typing import Any

# ``bench.run.run_session`` (passed in: bench.run runs this scenario).
Session = Callable[..., dict[str, Any]]

SOURCE_ADDRESSES = 8
# Files a server or load generator holds besides its sockets (listeners, pipes, libraries).
FILE_MARGIN = 200


def reachable(requested: int) -> tuple[int, str]:
    """How many connections this machine lets one process hold, and why fewer than asked."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard - FILE_MARGIN >= requested:
        return requested, ""
    return hard - FILE_MARGIN, f"open-file hard limit {hard} per process (RLIMIT_NOFILE)"


def idle_session(
    session: Session, target: Any, requested: int, deflate: bool, timeout: float
) -> dict[str, Any]:
    """One server, ``requested`` idle clients (or as many as the limit allows) of ``target``
    (a ``bench.run.Target``), one broadcast."""
    n, limited_by = reachable(requested)
    result = session(
        target,
        n,
        deflate=deflate,
        fanout=(0, 1, 0.0),  # one broadcast, to every client
        timeout=timeout,
        loadgen_args=("--source-addresses", str(SOURCE_ADDRESSES)),
    )
    paced = result.get("paced", {})
    return {
        "target": target.name,
        "requested": requested,
        "clients": n,
        "limited_by": limited_by,
        "deflate_offered": deflate,
        "connected": result["connect"]["connected"],
        "errors": result["connect"]["errors"],
        "first_errors": result["connect"].get("first_errors", []),
        "deflate_accepted": result["connect"]["deflate_accepted"],
        "connects_per_second": result["connect"]["connects_per_second"],
        "bytes_per_connection": result["memory"]["bytes_per_connection"],
        "rss_connected_mb": result["memory"]["rss_connected_mb"],
        "broadcast_received": paced.get("received", 0),
        "broadcast_p50_ms": paced.get("p50_ms", 0.0),
        "broadcast_p99_ms": paced.get("p99_ms", 0.0),
        "broadcast_max_ms": paced.get("max_ms", 0.0),
        "server_cpu_seconds": result.get("cpu", {}).get("server_cpu_seconds", 0.0),
        "deliveries_per_cpu_second": result.get("cpu", {}).get("deliveries_per_cpu_second", 0),
    }


def run(
    session: Session, targets: Sequence[Any], requested: int, timeout: float
) -> list[dict[str, Any]]:
    """Each target (roomkey over Socket.IO, over the Pusher protocol), without then with a
    deflate offer."""
    return [
        idle_session(session, target, requested, deflate, timeout)
        for deflate in (False, True)
        for target in targets
    ]
