"""The owner of a connection's client socket, both ways Linux tells it (sock_diag, /proc/net/tcp)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tcw.engine.taskproxy import peers

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="Linux only")


@pytest.fixture
def connection() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    """(the client's address, the server's address) of an open loopback connection."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                yield client.getsockname(), accepted.getsockname()


def test_both_ways_name_this_process_user(connection: tuple[tuple[str, int], tuple[str, int]]) -> None:
    peer, local = connection
    assert peers.peer_uid(peer, local) == os.geteuid()
    assert peers._ask_sock_diag(peer, local) == os.geteuid()
    assert peers._scan_proc_net_tcp(peer, local) == os.geteuid()


def test_a_socket_that_is_not_there_is_not_found(connection: tuple[tuple[str, int], tuple[str, int]]) -> None:
    _, local = connection
    nobody = ("127.0.0.1", 1)
    assert peers._ask_sock_diag(nobody, local) == peers.NOT_FOUND
    assert peers._scan_proc_net_tcp(nobody, local) == peers.NOT_FOUND
