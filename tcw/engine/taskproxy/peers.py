"""Who is on the other end of a connection to the proxy: the user owning the client's socket.

Linux knows the owner of every TCP socket. The proxy asks for the client's socket by its four-tuple with
one sock_diag netlink request (what ``ss`` uses: a lookup, tens of microseconds), and falls back to
scanning /proc/net/tcp (what taskcluster-proxy reads, but generating it takes milliseconds on a host with
thousands of sockets, TIME_WAIT ones included); ``PeerLookup`` keeps its netlink socket open between
questions. SO_PEERCRED would be simpler, but it exists for Unix sockets only, and tasks speak TCP to
``TASKCLUSTER_PROXY_URL``. Elsewhere there is no such table: ``PeerLookup.uid`` answers ``UNKNOWN`` and
the caller decides.
"""

from __future__ import annotations

import errno
import socket
import struct
from pathlib import Path

PROC_NET_TCP = Path("/proc/net/tcp")
UNKNOWN = -1  # this OS cannot tell
NOT_FOUND = -2  # it can, and the socket is not there (another network namespace, or gone already)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")
_SOCKID = struct.Struct(">HH16s16sI8s")  # ports and addresses in network order; interface, cookie
_REQUEST = struct.Struct("=BBBBI")  # family, protocol, extensions, pad, states
_NO_COOKIE = b"\xff" * 8
_UID_OFFSET = 4 + _SOCKID.size + 12  # inet_diag_msg: 4 bytes, the socket id, expires/rqueue/wqueue
_ADDRESSES = 4 + 16 + 16  # the socket id's ports and addresses


class PeerLookup:
    """Answers who owns a connection's client socket, over one sock_diag socket kept open: a proxy asks
    for every connection it accepts (each call of the official sync client is one), and opening a netlink
    socket per question cost as much as the question. One per proxy, used from its event loop's thread.

    An answer is taken only if it carries the question's sequence number and names the socket asked
    about; after any failure the socket is dropped, so an answer that came late dies with it.
    """

    def __init__(self) -> None:
        self._diag: socket.socket | None = None
        self._sequence = 0

    def uid(self, peer: tuple[str, int], local: tuple[str, int]) -> int:
        """The uid owning the IPv4 socket at ``peer`` connected to ``local``; ``UNKNOWN``, ``NOT_FOUND``."""
        found = self._ask_sock_diag(peer, local)
        return found if found != UNKNOWN else _scan_proc_net_tcp(peer, local)

    def close(self) -> None:
        if self._diag is not None:
            self._diag.close()
            self._diag = None

    def _ask_sock_diag(self, peer: tuple[str, int], local: tuple[str, int]) -> int:
        socket_id = _socket_id(peer, local)
        self._sequence = self._sequence % 0xFFFFFFFF + 1
        try:
            diag = self._socket()
            diag.send(_question(socket_id, self._sequence))
            answer = diag.recv(8192)
            while len(answer) >= _NLMSGHDR.size and _NLMSGHDR.unpack_from(answer)[3] != self._sequence:
                answer = diag.recv(8192)  # an older question's answer
        except OSError:
            self.close()
            return UNKNOWN
        return _read_answer(answer, socket_id)

    def _socket(self) -> socket.socket:
        if self._diag is None:
            if not hasattr(socket, "AF_NETLINK"):
                raise OSError("no netlink on this OS")
            self._diag = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
            self._diag.settimeout(1.0)
        return self._diag


def _socket_id(peer: tuple[str, int], local: tuple[str, int]) -> bytes:
    return _SOCKID.pack(peer[1], local[1], _packed(peer[0]), _packed(local[0]), 0, _NO_COOKIE)


def _question(socket_id: bytes, sequence: int) -> bytes:
    body = _REQUEST.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + socket_id
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, sequence, 0) + body


def _packed(host: str) -> bytes:
    """An IPv4 address's four bytes, padded to the 16 of sock_diag's address fields."""
    return socket.inet_aton(host).ljust(16, b"\0")


def _read_answer(answer: bytes, socket_id: bytes) -> int:
    """The uid in sock_diag's answer about ``socket_id``; ``UNKNOWN`` for an answer about anything else."""
    if len(answer) < _NLMSGHDR.size + 4:
        return UNKNOWN
    kind = _NLMSGHDR.unpack_from(answer)[1]
    if kind == NLMSG_ERROR:
        code = -struct.unpack_from("=i", answer, _NLMSGHDR.size)[0]
        return NOT_FOUND if code == errno.ENOENT else UNKNOWN
    if kind != SOCK_DIAG_BY_FAMILY or len(answer) < _NLMSGHDR.size + _UID_OFFSET + 4:
        return UNKNOWN
    named = answer[_NLMSGHDR.size + 4 : _NLMSGHDR.size + 4 + _ADDRESSES]
    if named != socket_id[:_ADDRESSES]:
        return UNKNOWN
    return int(struct.unpack_from("=I", answer, _NLMSGHDR.size + _UID_OFFSET)[0])


def _hex_address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp writes it: the 32-bit word in host (little-endian) byte order."""
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


def _scan_proc_net_tcp(peer: tuple[str, int], local: tuple[str, int], table: Path = PROC_NET_TCP) -> int:
    try:
        text = table.read_text(encoding="ascii")
    except FileNotFoundError:
        return UNKNOWN
    except OSError:
        return NOT_FOUND
    wanted = (_hex_address(*peer), _hex_address(*local))
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and (fields[1], fields[2]) == wanted and fields[7].isdigit():
            return int(fields[7])
    return NOT_FOUND
