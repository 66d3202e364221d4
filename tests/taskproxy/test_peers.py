"""The owner of a connection's client socket, both ways Linux tells it (sock_diag, /proc/net/tcp)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import closing

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


@pytest.fixture
def lookup() -> Iterator[peers.PeerLookup]:
    with closing(peers.PeerLookup()) as opened:
        yield opened


def test_both_ways_name_this_process_user(
    connection: tuple[tuple[str, int], tuple[str, int]], lookup: peers.PeerLookup
) -> None:
    peer, local = connection
    assert lookup.uid(peer, local) == os.geteuid()
    assert lookup._ask_sock_diag(peer, local) == os.geteuid()
    assert peers._scan_proc_net_tcp(peer, local) == os.geteuid()


def test_a_socket_that_is_not_there_is_not_found(
    connection: tuple[tuple[str, int], tuple[str, int]], lookup: peers.PeerLookup
) -> None:
    _, local = connection
    nobody = ("127.0.0.1", 1)
    assert lookup._ask_sock_diag(nobody, local) == peers.NOT_FOUND
    assert peers._scan_proc_net_tcp(nobody, local) == peers.NOT_FOUND


def test_an_answer_left_over_from_another_question_is_not_taken(
    connection: tuple[tuple[str, int], tuple[str, int]], lookup: peers.PeerLookup
) -> None:
    """The lookup keeps its netlink socket open: an answer about an allowed connection still queued in it
    (a question whose reader gave up) must not answer the question about the next one."""
    peer, local = connection
    nobody = ("127.0.0.1", 1)
    assert lookup.uid(peer, local) == os.geteuid()  # the socket is open now
    lookup._socket().send(peers._question(peers._socket_id(peer, local), 0))  # answered, never read
    assert lookup._ask_sock_diag(nobody, local) == peers.NOT_FOUND
    lookup._socket().send(peers._question(peers._socket_id(nobody, local), 0))
    assert lookup._ask_sock_diag(peer, local) == os.geteuid()
