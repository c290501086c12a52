"""Real Redis topologies on loopback: a master with a replica watched by three sentinels, and
a Redis Cluster of three masters with a replica each. Every process is a real redis-server
(``--sentinel`` for the sentinels), on free ports, stopped by PID; every wait is bounded.
Timings are short (sentinel ``down-after-milliseconds`` 1000, ``cluster-node-timeout`` 2000)
so that a failover completes within a test. With ``tls`` (tests/support/certificates.py)
every process serves TLS only (``port 0``), replication, the sentinels' links and the
cluster bus included, and the topology's ``settings`` carry ``tls``/``tls_ca_file``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roomkey.config import RedisSettings
from tests.support.backends import redis_settings
from tests.support.certificates import TlsFiles
from tests.support.markers import REDIS, require
from tests.support.redis_server import RedisServer, start_redis, stop_redis
from tests.support.waiting import wait_for_condition_blocking

MASTER_NAME = "mymaster"
SENTINEL_DOWN_AFTER_MS = 1000
CLUSTER_NODE_TIMEOUT_MS = 2000
READY_TIMEOUT_S = 30.0


def cli(port: int, *args: str, auth: str = "", tls: TlsFiles | None = None) -> str:
    """``redis-cli -p port args...`` (``auth``: a password to send first; ``tls``: over TLS,
    verified with its CA): its output ('' when it did not answer in 5 s)."""
    login = ["-a", auth, "--no-auth-warning"] if auth else []
    secure = list(tls.cli_args()) if tls else []
    try:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), *secure, *login, *args],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout.decode(errors="replace").strip()


def _port_pair_free(port: int) -> bool:
    """``port`` and its cluster bus port (``port + 10000``) both free on 127.0.0.1."""
    for p in (port, port + 10000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _cluster_ports(count: int) -> list[int]:
    ports: list[int] = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        start = 20000 + int(probe.getsockname()[1]) % 30000
    port = start
    while len(ports) < count:
        if _port_pair_free(port):
            ports.append(port)
        port += 1
    return ports


def _serving(port: int, tls: TlsFiles | None) -> tuple[str, ...]:
    """redis-server options that listen on ``port``: plain, or TLS only with ``tls``."""
    if tls is None:
        return ("--port", str(port))
    return ("--port", "0", "--tls-port", str(port), *tls.server_args())


def _tls_settings(tls: TlsFiles | None) -> dict[str, Any]:
    return {"tls": True, "tls_ca_file": str(tls.ca)} if tls else {}


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


@dataclass
class SentinelTopology:
    """A master, a replica and three sentinels naming ``MASTER_NAME`` (with ``tls``, over TLS
    only: ask them with ``cli(..., tls=topology.tls)``, not ``RedisServer.cli``)."""

    master: RedisServer
    replica: RedisServer
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]]
    workdir: str
    stopped: list[RedisServer] = field(default_factory=list)
    sentinel_password: str = ""
    tls: TlsFiles | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def settings(self, **overrides: Any) -> RedisSettings:
        values: dict[str, Any] = {
            "url": "",
            "sentinels": self.addresses,
            "sentinel_master": MASTER_NAME,
            **_tls_settings(self.tls),
        }
        values.update(overrides)
        return redis_settings(**values)

    def master_port(self) -> int | None:
        """The master's port as the first sentinel names it, or None."""
        reply = self.ask_sentinel(self.sentinel_ports[0], "get-master-addr-by-name", MASTER_NAME)
        lines = reply.splitlines()
        return int(lines[1]) if len(lines) == 2 and lines[1].isdigit() else None

    def ask_sentinel(self, port: int, *args: str) -> str:
        return cli(port, "SENTINEL", *args, auth=self.sentinel_password, tls=self.tls)

    def kill_master(self) -> int:
        """``kill -9`` the current master; returns its port."""
        port = self.master_port()
        victim = next(s for s in (self.master, self.replica) if s.port == port)
        _kill(victim.process)
        self.stopped.append(victim)
        return victim.port

    def wait_failed_over(self, old_port: int) -> int:
        """Wait until every sentinel names a new master that answers as one; its port."""

        def promoted() -> bool:
            ports = {
                self.ask_sentinel(p, "get-master-addr-by-name", MASTER_NAME)
                for p in self.sentinel_ports
            }
            if len(ports) != 1:
                return False
            port = self.master_port()
            return port not in (None, old_port) and "role:master" in cli(
                port or 0, "INFO", "replication", tls=self.tls
            )

        wait_for_condition_blocking(
            promoted, "a replica promoted by the sentinels", timeout=READY_TIMEOUT_S
        )
        port = self.master_port()
        assert port is not None
        return port


def start_sentinel_topology(
    sentinel_password: str = "", tls: TlsFiles | None = None
) -> SentinelTopology:
    """``sentinel_password``: the sentinels' ``requirepass`` (and the one they use between
    themselves); none by default. ``tls``: every process on TLS only, with these files."""
    require(REDIS, "a redis-server")
    port = _free()
    master = start_redis(port, extra=_serving(port, tls))
    port = _free()
    replica = start_redis(
        port, extra=(*_serving(port, tls), "--replicaof", "127.0.0.1", str(master.port))
    )
    workdir = tempfile.mkdtemp(prefix="roomkey-sentinel-")
    ports = [_free() for _ in range(3)]
    sentinels = []
    for port in ports:
        conf = Path(workdir) / f"sentinel-{port}.conf"
        listen = f"port 0\ntls-port {port}\n{tls.config_lines()}" if tls else f"port {port}\n"
        conf.write_text(
            f"{listen}bind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 2000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            + (
                f"requirepass {sentinel_password}\nsentinel sentinel-pass {sentinel_password}\n"
                if sentinel_password
                else ""
            )
        )
        sentinels.append(_spawn([str(conf), "--sentinel"]))
    topology = SentinelTopology(
        master, replica, ports, sentinels, workdir, sentinel_password=sentinel_password, tls=tls
    )

    def complete() -> bool:
        for port in ports:
            info = topology.ask_sentinel(port, "master", MASTER_NAME).splitlines()
            fields = dict(zip(info[0::2], info[1::2], strict=False))
            if fields.get("num-slaves") != "1" or fields.get("num-other-sentinels") != "2":
                return False
        return "master_link_status:up" in cli(replica.port, "INFO", "replication", tls=tls)

    try:
        wait_for_condition_blocking(
            complete, "sentinels that know each other", timeout=READY_TIMEOUT_S
        )
    except AssertionError:
        stop_sentinel_topology(topology)
        raise
    return topology


def stop_sentinel_topology(topology: SentinelTopology) -> None:
    for process in topology.sentinels:
        _kill(process)
    for server in (topology.master, topology.replica):
        stop_redis(server)
    shutil.rmtree(topology.workdir, ignore_errors=True)


@dataclass
class ClusterTopology:
    """Three masters with a replica each (``cluster-node-timeout`` 2000 ms); with ``tls``,
    over TLS only, the cluster bus included."""

    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]]
    workdir: str
    tls: TlsFiles | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{p}" for p in self.ports)

    def settings(self, **overrides: Any) -> RedisSettings:
        values: dict[str, Any] = {
            "url": "",
            "cluster_nodes": self.addresses[:2],
            **_tls_settings(self.tls),
        }
        values.update(overrides)
        return redis_settings(**values)

    def alive(self) -> list[int]:
        return [p for p in self.ports if self.processes[p].poll() is None]

    def masters(self) -> list[int]:
        """Ports of the masters that serve slots, as a live node sees them."""
        out = []
        for line in cli(self.alive()[0], "CLUSTER", "NODES", tls=self.tls).splitlines():
            parts = line.split()
            if len(parts) > 8 and "master" in parts[2] and "fail" not in parts[2]:
                out.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(out)

    def master_of(self, key: bytes) -> int:
        slot = int(cli(self.alive()[0], "CLUSTER", "KEYSLOT", key.decode(), tls=self.tls))
        for line in cli(self.alive()[0], "CLUSTER", "NODES", tls=self.tls).splitlines():
            parts = line.split()
            if len(parts) > 8 and "master" in parts[2] and "fail" not in parts[2]:
                for span in parts[8:]:
                    low, _, high = span.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return int(parts[1].split("@")[0].rsplit(":", 1)[1])
        raise AssertionError(f"no master serves slot {slot}")

    def kill(self, port: int) -> None:
        """``kill -9`` the node on ``port``."""
        _kill(self.processes[port])

    def wait_ok(self, without: int | None = None) -> None:
        """Wait until every live node says ``cluster_state:ok`` and three masters serve
        (``without``: none of them on that port, i.e. its replica has been promoted)."""

        def ok() -> bool:
            states = [cli(p, "CLUSTER", "INFO", tls=self.tls) for p in self.alive()]
            masters = self.masters()
            return (
                all("cluster_state:ok" in s for s in states)
                and len(masters) == 3
                and without not in masters
            )

        wait_for_condition_blocking(ok, "the cluster state ok", timeout=READY_TIMEOUT_S)


def start_cluster(tls: TlsFiles | None = None) -> ClusterTopology:
    """``tls``: every node on TLS only (``tls-cluster``), with these files."""
    require(REDIS, "a redis-server")
    ports = _cluster_ports(6)
    workdir = tempfile.mkdtemp(prefix="roomkey-cluster-")
    processes: dict[int, subprocess.Popen[bytes]] = {}
    for port in ports:
        processes[port] = _spawn(
            [
                *_serving(port, tls),
                *(("--tls-cluster", "yes") if tls else ()),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"{workdir}/nodes-{port}.conf",
                "--cluster-node-timeout",
                str(CLUSTER_NODE_TIMEOUT_MS),
                "--cluster-replica-validity-factor",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ]
        )
    topology = ClusterTopology(ports, processes, workdir, tls)
    try:
        wait_for_condition_blocking(
            lambda: all(cli(p, "PING", tls=tls) == "PONG" for p in ports),
            "cluster nodes up",
            timeout=10.0,
        )
        create = subprocess.run(
            [
                "redis-cli",
                *(tls.cli_args() if tls else ()),
                "--cluster",
                "create",
                *topology.addresses,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if create.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed: {create.stdout.decode()[-500:]}")
        topology.wait_ok()
    except BaseException:
        stop_cluster(topology)
        raise
    return topology


def stop_cluster(topology: ClusterTopology) -> None:
    for process in topology.processes.values():
        if process.poll() is None:
            process.terminate()
    for process in topology.processes.values():
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _kill(process)
    shutil.rmtree(topology.workdir, ignore_errors=True)


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run the README's test command (it installs it)")
    return subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
