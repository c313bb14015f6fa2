"""The client's IP address, trusting `X-Forwarded-For` only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse(value: str) -> Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; they must match IPv4 proxy ranges.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """Walk `X-Forwarded-For` from the right, past trusted proxies, to the first real client.

    A peer that is not a trusted proxy is the client, whatever header it sends. No peer (None)
    means our own Unix socket, which only our edge can reach: the edge is trusted, so the hop it
    appended (the address it saw) is taken, and the walk goes on past trusted proxies.
    """
    if peer is None:
        return str(_walk(None, forwarded_for, proxies) or "unknown")
    address = _parse(peer)
    if address is None:
        return peer or "unknown"
    if not _trusted(address, proxies):
        return str(address)
    return str(_walk(address, forwarded_for, proxies))


def _walk(
    address: Address | None, forwarded_for: str | None, proxies: Sequence[Network]
) -> Address | None:
    """From a trusted `address`, the last hop of `forwarded_for` we can vouch for."""
    if not forwarded_for:
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _parse(hop)
        if hop_address is None:
            break
        address = hop_address
        if not _trusted(address, proxies):
            break
    return address
