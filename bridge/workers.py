"""REALTIME_WORKERS: several edge processes sharing one port.

Each worker is a whole edge (its own NATS connection, feeds and connections)
bound with SO_REUSEPORT, so the kernel spreads new connections over them. They
share nothing but NATS: the supervisor only starts them, restarts one that
dies, and passes SIGTERM on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.process import BaseProcess

from . import logs
from .app import Edge
from .settings import Settings

log = logging.getLogger(__name__)

_RESTART_DELAY = 1.0
_STOP_TIMEOUT = 20.0


def _worker_main(settings: Settings, group: str, index: int) -> None:
    logs.configure(settings.log_level)
    asyncio.run(_serve_worker(settings, group, index))


async def _serve_worker(settings: Settings, group: str, index: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C reaches the whole process group; the supervisor decides.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    edge = Edge(settings, group=group)
    await edge.start()
    log.info("worker started", extra={"edge": edge.id, "count": index})
    await stop.wait()
    await edge.stop()


class Supervisor:
    def __init__(self, settings: Settings, group: str) -> None:
        self._settings = settings
        self._group = group
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []

    def _spawn(self, index: int) -> BaseProcess:
        process = self._context.Process(
            target=_worker_main,
            args=(self._settings, self._group, index),
            name=f"realtime-worker-{index}",
        )
        process.start()
        return process

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the workers running until ``stop`` is set, then stop them."""
        self._workers = [self._spawn(i) for i in range(self._settings.workers)]
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _RESTART_DELAY)
                for index, worker in enumerate(self._workers):
                    if not worker.is_alive() and not stop.is_set():
                        log.error(
                            "worker exited, restarting",
                            extra={"count": index, "code": worker.exitcode},
                        )
                        self._workers[index] = self._spawn(index)
        finally:
            await self._stop_all()

    async def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
        for worker in self._workers:
            await asyncio.to_thread(worker.join, _STOP_TIMEOUT)
            if worker.is_alive():
                worker.kill()
                await asyncio.to_thread(worker.join)
