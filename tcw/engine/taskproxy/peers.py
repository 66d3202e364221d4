"""Who is on the other end of a connection to the proxy: the user owning the client's socket.

Linux knows the owner of every TCP socket. The proxy asks for the client's socket by its four-tuple with
one sock_diag netlink request (what ``ss`` uses: a lookup, tens of microseconds), and falls back to
scanning /proc/net/tcp (what taskcluster-proxy reads, but generating it takes milliseconds on a host with
thousands of sockets, TIME_WAIT ones included). SO_PEERCRED would be simpler, but it exists for Unix
sockets only, and tasks speak TCP to ``TASKCLUSTER_PROXY_URL``. Elsewhere there is no such table:
``peer_uid`` answers ``UNKNOWN`` and the caller decides.
"""

from __future__ import annotations

import errno
import ipaddress
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


def peer_uid(peer: tuple[str, int], local: tuple[str, int]) -> int:
    """The uid owning the IPv4 socket at ``peer`` connected to ``local``; ``UNKNOWN``, ``NOT_FOUND``."""
    found = _ask_sock_diag(peer, local)
    return found if found != UNKNOWN else _scan_proc_net_tcp(peer, local)


def _ask_sock_diag(peer: tuple[str, int], local: tuple[str, int]) -> int:
    if not hasattr(socket, "AF_NETLINK"):
        return UNKNOWN
    socket_id = _SOCKID.pack(
        peer[1],
        local[1],
        ipaddress.IPv4Address(peer[0]).packed,
        ipaddress.IPv4Address(local[0]).packed,
        0,
        _NO_COOKIE,
    )
    body = _REQUEST.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + socket_id
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
            diag.settimeout(1.0)
            diag.send(header + body)
            answer = diag.recv(8192)
    except OSError:
        return UNKNOWN
    return _read_answer(answer)


def _read_answer(answer: bytes) -> int:
    if len(answer) < _NLMSGHDR.size + 4:
        return UNKNOWN
    kind = _NLMSGHDR.unpack_from(answer)[1]
    if kind == NLMSG_ERROR:
        code = -struct.unpack_from("=i", answer, _NLMSGHDR.size)[0]
        return NOT_FOUND if code == errno.ENOENT else UNKNOWN
    if kind != SOCK_DIAG_BY_FAMILY or len(answer) < _NLMSGHDR.size + _UID_OFFSET + 4:
        return UNKNOWN
    return int(struct.unpack_from("=I", answer, _NLMSGHDR.size + _UID_OFFSET)[0])


def _hex_address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp writes it: the 32-bit word in host (little-endian) byte order."""
    packed = ipaddress.IPv4Address(host).packed
    return f"{packed[::-1].hex().upper()}:{port:04X}"


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
