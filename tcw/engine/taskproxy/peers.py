"""Who is on the other end of a connection to the proxy: the user owning the client's socket.

Linux lists every TCP socket of this network namespace in /proc/net/tcp with its owner's uid; the client's
socket is the entry whose local address is the connection's peer address and whose remote address is the
proxy's. That is how taskcluster-proxy tells users apart too. (SO_PEERCRED would be simpler but exists
for Unix sockets only, and tasks speak TCP to ``TASKCLUSTER_PROXY_URL``.) Elsewhere there is no such table:
``peer_uid`` answers ``UNKNOWN`` and the caller decides.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

PROC_NET_TCP = Path("/proc/net/tcp")
UNKNOWN = -1  # this OS cannot tell
NOT_FOUND = -2  # it can, and the socket is not there (another network namespace, or gone already)


def _hex_address(host: str, port: int) -> str:
    """An IPv4 address as /proc/net/tcp writes it: the 32-bit word in host (little-endian) byte order."""
    packed = ipaddress.IPv4Address(host).packed
    return f"{packed[::-1].hex().upper()}:{port:04X}"


def peer_uid(peer: tuple[str, int], local: tuple[str, int], table: Path = PROC_NET_TCP) -> int:
    """The uid owning the socket at ``peer`` connected to ``local`` (IPv4), ``UNKNOWN`` or ``NOT_FOUND``."""
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
