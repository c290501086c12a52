"""The one private part of redis-py that roomkey reads (``_patches/redis_cluster.py``): on
the redis-py installed, a cluster node keeps the set it is read from; on another shape, the
fallback waits for nothing."""

from __future__ import annotations

import asyncio

from redis.asyncio.cluster import ClusterNode

from roomkey._patches.redis_cluster import closing_tasks


def test_the_installed_cluster_node_keeps_its_closing_tasks_in_a_set() -> None:
    node = ClusterNode("127.0.0.1", 6379)
    assert isinstance(getattr(node, "_background_tasks", None), set)
    assert closing_tasks(node) == []


async def test_tasks_are_read_and_another_shape_falls_back_to_none() -> None:
    node = ClusterNode("127.0.0.1", 6379)
    task = asyncio.ensure_future(asyncio.sleep(0))
    getattr(node, "_background_tasks").add(task)  # noqa: B009 (the private part under test)
    assert closing_tasks(node) == [task]
    await task

    class Other:
        _background_tasks = ["not", "a", "set"]

    assert closing_tasks(Other()) == []
    assert closing_tasks(object()) == []
