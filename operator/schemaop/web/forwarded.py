"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` from trusted peers only.

The rate limit and the access log key on the client's address. Behind an
ingress every connection comes from the ingress, so the sidecar can be told
which peers are proxies (``--trusted-proxies``, a list of CIDR ranges). Only
when the connecting peer is in one of them is ``X-Forwarded-For`` read, from
the right (each proxy appends the address it saw): trusted addresses are
skipped, and the first untrusted one is the client. Anything left of it was
written by the client and is ignored, so a client cannot choose its own
bucket. If every address is trusted, the left-most is the client; an entry
that is not an address ends the walk at the hop to its right. Pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

__all__ = ["Network", "client_address", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """CIDR ranges or bare addresses; ``ValueError`` naming the first bad one."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip()))
        except ValueError as exc:
            raise ValueError(f"{item.strip()!r} is not an address or CIDR range ({exc})") from None
    return tuple(networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The client's address: ``peer``, or from ``X-Forwarded-For`` (every header
    line, in order) when ``peer`` is one of the ``trusted`` proxies."""
    if not trusted or not forwarded_for:
        return peer
    peer_ip = _address(peer or "")
    if peer_ip is None or not _trusted(peer_ip, trusted):
        return peer
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
    nearest = str(peer_ip)
    for hop in reversed([hop for hop in hops if hop]):
        address = _address(hop)
        if address is None:
            return nearest
        if not _trusted(address, trusted):
            return str(address)
        nearest = str(address)
    return nearest


def _trusted(address: _Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def _address(text: str) -> _Address | None:
    """An address as proxies write it: bare, ``v4:port``, ``[v6]`` or ``[v6]:port``."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
