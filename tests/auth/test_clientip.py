"""kit/clientip.py: the client's address, trusting `X-Forwarded-For` only from our proxies."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from instapods.kit.clientip import Network, client_ip

PROXIES: list[Network] = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # a peer that is not our proxy is the client, whatever it claims
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        ("203.0.113.5", "10.0.0.1", "203.0.113.5"),
        ("2001:db8::5", "198.51.100.1", "2001:db8::5"),
        # our proxy: the hop it saw, from the right
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", " 198.51.100.1 ", "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own claim
        ("10.0.0.1", "6.6.6.6,198.51.100.1,10.0.0.2", "198.51.100.1"),  # proxy behind proxy
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # nothing but proxies
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
        # IPv6, written as the standard writes it
        ("fd00::1", "2001:DB8:0:0::0001", "2001:db8::1"),
        ("fd00::1", "2001:db8::7, fd12::9", "2001:db8::7"),
        ("10.0.0.1", "2001:db8::7", "2001:db8::7"),
        ("2001:DB8::0005", None, "2001:db8::5"),
        # garbage ends the walk at the last address we can vouch for
        ("10.0.0.1", "not-an-ip", "10.0.0.1"),
        ("10.0.0.1", "198.51.100.1, garbage", "10.0.0.1"),
        ("10.0.0.1", "198.51.100.1:4711", "10.0.0.1"),
        ("10.0.0.1", "garbage, 10.0.0.2", "10.0.0.2"),
        ("10.0.0.1", ",,,", "10.0.0.1"),
        ("10.0.0.1", "198.51.100.1,", "10.0.0.1"),
        ("10.0.0.1", "\x00\xff", "10.0.0.1"),
        ("10.0.0.1", "1" * 5000, "10.0.0.1"),
        # no peer: our own Unix socket, which only our edge reaches; it names the client
        (None, "198.51.100.1", "198.51.100.1"),
        (None, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own claim
        (None, "198.51.100.1, 10.0.0.2", "198.51.100.1"),  # a trusted proxy before the edge
        (None, "2001:DB8::7", "2001:db8::7"),
        (None, None, "unknown"),
        (None, "", "unknown"),
        (None, "garbage", "unknown"),
        # no usable peer address (another kind of socket, a test transport)
        ("", None, "unknown"),
        ("unix:/run/instapods.sock", "198.51.100.1", "unix:/run/instapods.sock"),
    ],
)
def test_client_ip(peer: str | None, forwarded: str | None, expected: str) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_with_no_trusted_proxies_the_header_never_counts() -> None:
    assert client_ip("10.0.0.1", "198.51.100.1", []) == "10.0.0.1"
    assert client_ip("127.0.0.1", "198.51.100.1", []) == "127.0.0.1"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket's IPv4 peer
        ("::ffff:203.0.113.5", None, "203.0.113.5"),
        ("10.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "198.51.100.1, ::ffff:10.0.0.2", "198.51.100.1"),
    ],
)
def test_ipv4_mapped_addresses_count_as_ipv4(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_ip(peer, forwarded, PROXIES) == expected
