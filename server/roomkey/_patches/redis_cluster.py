"""redis-py's cluster client: the one private part roomkey reads, with its fallback.

``closing_tasks(node)``: the connection closes a ``redis.asyncio.cluster.ClusterNode`` runs in
the background after a failover released them (its ``_background_tasks`` set), so that
closing roomkey's cluster client can wait for them and leave no connection open. Fallback,
when the attribute is absent or not a set of tasks (another redis-py): nothing to wait for;
the client still disconnects every node it has used, and a close still running in the
background finishes on its own.
"""

from __future__ import annotations

import asyncio
from typing import Any


def closing_tasks(node: Any) -> list[asyncio.Task[Any]]:
    """The tasks ``node`` runs in the background to close released connections (none when
    the installed redis-py keeps no such set)."""
    tasks = getattr(node, "_background_tasks", None)
    if not isinstance(tasks, set):
        return []
    return [t for t in tasks if isinstance(t, asyncio.Task)]
