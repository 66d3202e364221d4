"""The local queue keeps serving while a client holds connections open without finishing a request (issue
10, item 7): quiet connections are closed after the idle timeout, and at the connection limit the oldest
quiet one makes room, so a real client still gets through."""

from __future__ import annotations

import re
import resource
import signal
import socket
import subprocess
import time
from typing import Any

import requests
import taskcluster

from tests.support.cli import tcw_process
from tests.support.localqueue import MakeLocalQueue

DESCRIPTORS = 400  # the queue's descriptor limit, which HALF_OPEN connections would exhaust
HALF_OPEN = 450


def half_open(root_url: str, count: int) -> list[socket.socket]:
    """Connections that send half a request head and then nothing."""
    host, port = root_url.removeprefix("http://").rsplit(":", 1)
    connections = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=30)
        connection.sendall(b"GET /api/queue/v1/ping HTTP/1.1\r\nHost: x\r\n")
        connections.append(connection)
    return connections


def closed_by_the_queue(connection: socket.socket) -> bool:
    """True once the queue has closed the connection (with a FIN, or a reset for the unread half-head)."""
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def test_half_open_connections_do_not_lock_out_a_real_client() -> None:
    args = ["queue", "serve", "--port", "0", "--db", ":memory:"]
    process = tcw_process(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=limit_descriptors
    )
    attack: list[socket.socket] = []
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        found = re.search(r"serving at (http://\S+)", banner)
        assert found, banner
        root_url = found.group(1)
        attack = half_open(root_url, HALF_OPEN)
        ping = requests.get(f"{root_url}/api/queue/v1/ping", timeout=10)  # promptly, or not at all
        assert ping.json()["alive"] is True
        attack += half_open(root_url, 100)  # still under attack: still served
        queue: Any = taskcluster.Queue({"rootUrl": root_url, "maxRetries": 0})
        assert queue.ping()["alive"] is True
    finally:
        for connection in attack:
            connection.close()
        if process.stdout is not None:
            process.stdout.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_a_connection_quiet_past_the_idle_timeout_is_closed(make_local_queue: MakeLocalQueue) -> None:
    local = make_local_queue(idle_timeout=0.5)
    (connection,) = half_open(local.root_url, 1)
    started = time.monotonic()
    with connection:
        assert closed_by_the_queue(connection)  # without an answer
    assert 0.4 < time.monotonic() - started < 20
    queue: Any = taskcluster.Queue(local.client_options())
    assert queue.ping()["alive"] is True


def test_at_the_limit_a_new_connection_pushes_out_the_oldest_quiet_one(
    make_local_queue: MakeLocalQueue,
) -> None:
    local = make_local_queue(max_connections=5)
    connections = half_open(local.root_url, 5)
    try:
        queue: Any = taskcluster.Queue(local.client_options())
        assert queue.ping()["alive"] is True
        assert closed_by_the_queue(connections[0])  # the oldest made room
        connections[1].settimeout(0.2)
        try:
            connections[1].recv(1024)
            raise AssertionError("the second oldest connection was closed too")
        except TimeoutError:
            pass
    finally:
        for connection in connections:
            connection.close()


def test_a_request_body_trickling_in_is_answered_408(make_local_queue: MakeLocalQueue) -> None:
    """A client sending its head, then its body slower than the idle timeout, is not let keep the
    connection busy (and so safe from the limit's pruning) for ever."""
    local = make_local_queue(idle_timeout=0.5)
    host, port = local.root_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"PUT /api/queue/v1/task/abc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"a":'
        )
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"RequestTimeout"' in answer
