"""No event lost when things fail (SPEC section 6, guarantee 4 across failures)."""

from __future__ import annotations

import asyncio

import nats

from bridge import catalog
from bridge.app import Edge
from bridge.upstream import ensure_streams

from .follow import Follower, Published, publish_steadily
from .support import edge_settings, mint_token


def _report(name: str, published: Published, followers: list[Follower]) -> None:
    acked = published.seqs
    print(
        f"{name} producer: acknowledged {len(acked)}, "
        f"longest pause between acks {published.longest_pause():.2f}s"
    )
    for n, f in enumerate(followers):
        expected = [s for s in acked if s > (f.start or 0)]
        lost = len(set(expected) - set(f.seqs))
        duplicated = len(f.seqs) - len(set(f.seqs))
        print(
            f"{name} client {n}: published {len(expected)} received {len(f.seqs)} "
            f"lost {lost} duplicated {duplicated} "
            f"longest pause {f.longest_pause():.2f}s closes {f.closes}"
        )


async def _settle(followers: list[Follower], acked: list[int], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if all(
            set(s for s in acked if s > (f.start or 0)) <= set(f.seqs)
            for f in followers
        ):
            return
        await asyncio.sleep(0.05)


async def _stream_leader(servers, prefix: str, topic: str) -> str:
    """Create the streams as the edge would, and name the leader of ``topic``'s."""
    nc = await nats.connect([s.url for s in servers])
    try:
        js = nc.jetstream(timeout=10)
        await ensure_streams(js, catalog.load(), prefix, replicas=3)
        name = f"{prefix}.{topic}".replace(".", "_")
        for _ in range(100):
            info = await js.stream_info(name)
            if info.cluster and info.cluster.leader:
                return info.cluster.leader
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    raise AssertionError("no stream leader")


async def test_killing_the_edges_nats_server_loses_and_repeats_nothing(
    nats_cluster, prefix
):
    # The edge connects to the server leading the topic's stream, so killing
    # it takes down the edge's link, the stream leader and the feed's consumer
    # at once; the edge learns the other servers from the cluster.
    leader = await _stream_leader(nats_cluster, prefix, "capture.activity")
    (victim,) = [s for s in nats_cluster if s.name == leader]
    edge = Edge(edge_settings(victim.url, prefix, REALTIME_STREAM_REPLICAS="3"))
    await edge.start()
    try:
        await asyncio.wait_for(edge.wait_ready(), 30)
        token = await mint_token(edge)
        followers = [
            Follower(lambda: edge.port, token, "capture.activity") for _ in range(4)
        ]
        stop = asyncio.Event()
        following = [asyncio.create_task(f.run(stop)) for f in followers]
        await asyncio.gather(*(f.subscribed.wait() for f in followers))

        publishing = asyncio.create_task(
            publish_steadily(
                [s.url for s in nats_cluster], f"{prefix}.capture.activity.c1", 100, 8
            )
        )
        await asyncio.sleep(2)
        assert edge.upstream.nc is not None and edge.upstream.nc.connected_url
        assert edge.upstream.nc.connected_url.port == victim.port
        victim.kill()
        published = await publishing
        acked = published.seqs
        await _settle(followers, acked, timeout=30)
        stop.set()
        await asyncio.gather(*following)

        _report("failover", published, followers)
        for follower in followers:
            expected = [s for s in acked if s > (follower.start or 0)]
            assert follower.seqs == expected
            assert follower.closes == []
        assert edge.upstream.nc.connected_url.port != victim.port
        assert edge.metrics.nats_reconnects.labels().value >= 1
    finally:
        await edge.stop()


async def test_restarting_the_edge_loses_nothing_for_clients_that_resume(
    nats_url, prefix
):
    current: list[Edge | None] = [None]
    first = Edge(edge_settings(nats_url, prefix))
    await first.start()
    await first.wait_ready()
    current[0] = first
    token = await mint_token(first)

    def port() -> int | None:
        edge = current[0]
        return edge.port if edge is not None and edge.ready else None

    # A feed topic: on a snapshot topic a resume rightly sends only the latest
    # message of each subject, not every one.
    followers = [Follower(port, token, "capture.activity") for _ in range(4)]
    stop = asyncio.Event()
    following = [asyncio.create_task(f.run(stop)) for f in followers]
    await asyncio.gather(*(f.subscribed.wait() for f in followers))

    publishing = asyncio.create_task(
        publish_steadily([nats_url], f"{prefix}.capture.activity.c1", 200, 4)
    )
    second = None
    try:
        await asyncio.sleep(1.5)
        current[0] = None
        await first.stop()
        second = Edge(edge_settings(nats_url, prefix))
        await second.start()
        await second.wait_ready()
        current[0] = second
        published = await publishing
        acked = published.seqs
        await _settle(followers, acked, timeout=20)
        stop.set()
        await asyncio.gather(*following)
    finally:
        if second is not None:
            await second.stop()

    _report("restart", published, followers)
    for follower in followers:
        assert follower.closes == [1001]
        assert follower.recovered == [True]
        expected = [s for s in acked if s > (follower.start or 0)]
        assert follower.seqs == expected
