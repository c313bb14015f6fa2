"""Pod networking: a network namespace and a veth pair per pod, and one host firewall.

Slot N of the pod network (default 10.250.0.0/16) is the /30 at offset 4N: the host end of
the veth (`vpN`) gets .1, the pod's `eth0` gets .2 and a default route through the host,
which masquerades its traffic to the internet. The firewall, installed once per host and
shared by every pod through the `vp+` interface match, lets a pod reach the internet and the
host's DNS resolvers only: not the host itself, not other pods, not private ranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from instapods.kit import procs
from instapods.runtime.drivers.sandbox.host import may, must, write
from instapods.runtime.errors import CapacityExceeded

NETNS_DIR = "/run/netns"
CHAIN_IN = "INSTAPODS-IN"
CHAIN_OUT = "INSTAPODS-FWD"
CHAIN_NAT = "INSTAPODS-NAT"
BLOCKED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4",
)  # fmt: skip


@dataclass(frozen=True)
class PodNetwork:
    slot: int
    host_ip: str
    pod_ip: str

    @property
    def netns(self) -> str:
        return f"ipod-{self.slot}"

    @property
    def netns_path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"

    @property
    def veth(self) -> str:
        return f"vp{self.slot}"

    @classmethod
    def for_slot(cls, network: str, slot: int) -> PodNetwork:
        net = ipaddress.IPv4Network(network)
        if not 1 <= slot < net.num_addresses // 4:
            raise CapacityExceeded(f"slot {slot} is outside the pod network {network}")
        base = net.network_address + 4 * slot
        return cls(slot, str(base + 1), str(base + 2))

    def exists(self) -> bool:
        return os.path.exists(self.netns_path)

    async def create(self) -> None:
        if self.exists():
            await self.delete()
        host = (
            f"netns add {self.netns}\n"
            f"link add {self.veth} type veth peer name eth0 netns {self.netns}\n"
            f"addr add {self.host_ip}/30 dev {self.veth}\n"
            f"link set {self.veth} up\n"
        )
        await must(["ip", "-batch", "-"], stdin=host.encode())
        # No IPv6 on the host end: a link-local address would reach host services.
        write(f"/proc/sys/net/ipv6/conf/{self.veth}/disable_ipv6", "1")
        pod = (
            "link set lo up\n"
            f"addr add {self.pod_ip}/30 dev eth0\n"
            "link set eth0 up\n"
            f"route add default via {self.host_ip}\n"
        )
        await must(["ip", "-n", self.netns, "-batch", "-"], stdin=pod.encode())
        await must([
            "nsenter", f"--net={self.netns_path}", "--", "sysctl", "-q", "-w",
            "net.ipv4.ip_unprivileged_port_start=0", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])  # fmt: skip

    async def delete(self) -> None:
        """Remove the namespace (which removes the veth pair) and its bind mount."""
        await may(["ip", "link", "del", self.veth])
        await may(["ip", "netns", "del", self.netns])
        if os.path.exists(self.netns_path):
            await may(["umount", self.netns_path])
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.netns_path)


def resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    """The host's IPv4 name servers (pods may reach these on port 53 and nothing else private)."""
    found = []
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        address = ipaddress.ip_address(parts[1])
                    except ValueError:
                        continue
                    if address.version == 4 and not address.is_loopback:
                        found.append(str(address))
    except FileNotFoundError:
        pass
    return found


async def connected_subnets() -> list[str]:
    """The host's own IPv4 networks (its LAN): pods must not reach neighbours there either."""
    out = await must(["ip", "-4", "-o", "addr", "show"])
    subnets = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[1] == "lo" or parts[1].startswith("vp"):
            continue
        subnets.append(str(ipaddress.IPv4Interface(parts[3]).network))
    return subnets


def _rules(network: str, dns: Sequence[str], allowed: Sequence[str]) -> list[list[str]]:
    rules: list[list[str]] = [
        ["-A", CHAIN_IN, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-A", CHAIN_IN, "-j", "DROP"],
        ["-A", CHAIN_OUT, "-o", "vp+", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
         "-j", "ACCEPT"],
        ["-A", CHAIN_OUT, "-o", "vp+", "-j", "DROP"],
        ["-A", CHAIN_OUT, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ]  # fmt: skip
    for server in dns:
        for proto in ("udp", "tcp"):
            rules.append(["-A", CHAIN_OUT, "-d", server, "-p", proto, "-m", proto, "--dport", "53",
                          "-j", "ACCEPT"])  # fmt: skip
    for destination in allowed:
        rules.append(["-A", CHAIN_OUT, "-d", destination, "-j", "ACCEPT"])
    for blocked in (*BLOCKED, network):
        rules.append(["-A", CHAIN_OUT, "-d", blocked, "-j", "REJECT"])
    rules.append(["-A", CHAIN_OUT, "-j", "ACCEPT"])
    return rules


async def _install_firewall(network: str, dns: Sequence[str], allowed: Sequence[str] = ()) -> None:
    """Create or refresh the host's pod rules, shared by every pod. Each table is replaced
    atomically (iptables-restore), so there is no moment without rules; nothing is written
    when the rules in place are already these."""
    rules = _rules(network, dns, allowed)
    accept_all = rules.pop()
    for subnet in await connected_subnets():
        rules.append(["-A", CHAIN_OUT, "-d", subnet, "-j", "REJECT"])
    rules.append(accept_all)
    nat = [["-A", CHAIN_NAT, "-s", network, "!", "-d", network, "-j", "MASQUERADE"]]
    wanted = {
        (CHAIN_IN, "filter"): _listing(CHAIN_IN, rules),
        (CHAIN_OUT, "filter"): _listing(CHAIN_OUT, rules),
        (CHAIN_NAT, "nat"): _listing(CHAIN_NAT, nat),
    }
    current = {key: await _current(*key) for key in wanted}
    if current != wanted:
        restore = (
            "*filter\n"
            f":{CHAIN_IN} - [0:0]\n:{CHAIN_OUT} - [0:0]\n"
            + "".join(" ".join(rule) + "\n" for rule in rules)
            + "COMMIT\n*nat\n"
            f":{CHAIN_NAT} - [0:0]\n" + "".join(" ".join(rule) + "\n" for rule in nat) + "COMMIT\n"
        )
        await must(["iptables-restore", "-w", "--noflush"], stdin=restore.encode())
    for table, parent, match in (
        ("filter", "INPUT", ["-i", "vp+", "-j", CHAIN_IN]),
        ("filter", "FORWARD", ["-i", "vp+", "-j", CHAIN_OUT]),
        ("filter", "FORWARD", ["-o", "vp+", "-j", CHAIN_OUT]),
        ("nat", "POSTROUTING", ["-j", CHAIN_NAT]),
    ):
        if not await may(["iptables", "-w", "-t", table, "-C", parent, *match]):
            await must(["iptables", "-w", "-t", table, "-I", parent, "1", *match])
    write("/proc/sys/net/ipv4/ip_forward", "1")


async def _current(chain: str, table: str) -> list[str]:
    result = await procs.run(["iptables", "-w", "-t", table, "-S", chain])
    return result.stdout.splitlines() if result.returncode == 0 else []


def _listing(chain: str, rules: list[list[str]]) -> list[str]:
    """What `iptables -S CHAIN` prints once these rules are in place."""
    return [f"-N {chain}", *(" ".join(_canonical(rule)) for rule in rules if rule[1] == chain)]


def _canonical(rule: list[str]) -> list[str]:
    out = []
    for index, word in enumerate(rule):
        if index > 0 and rule[index - 1] == "-d" and "/" not in word:
            word += "/32"
        if word == "REJECT" and index == len(rule) - 1:
            out += [word, "--reject-with", "icmp-port-unreachable"]
            continue
        out.append(word)
    return out


async def _remove_firewall() -> None:
    """Remove every rule and chain `install_firewall` made (for tests and uninstalls)."""
    for table, parent, match in (
        ("filter", "INPUT", ["-i", "vp+", "-j", CHAIN_IN]),
        ("filter", "FORWARD", ["-i", "vp+", "-j", CHAIN_OUT]),
        ("filter", "FORWARD", ["-o", "vp+", "-j", CHAIN_OUT]),
        ("nat", "POSTROUTING", ["-j", CHAIN_NAT]),
    ):
        while await may(["iptables", "-w", "-t", table, "-D", parent, *match]):
            pass
    for table, chain in (("filter", CHAIN_IN), ("filter", CHAIN_OUT), ("nat", CHAIN_NAT)):
        await may(["iptables", "-w", "-t", table, "-F", chain])
        await may(["iptables", "-w", "-t", table, "-X", chain])


def netns_slots() -> list[int]:
    """Slots of the pod namespaces present on the host (to find orphans)."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(int(n[5:]) for n in names if n.startswith("ipod-") and n[5:].isdigit())


LOCK_FILE = "/run/instapods-firewall.lock"


@contextlib.asynccontextmanager
async def _host_lock() -> AsyncIterator[None]:
    """One firewall change at a time on this host, across processes (iptables' own checks
    race when several installations start together)."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def install_firewall(network: str, dns: Sequence[str], allowed: Sequence[str] = ()) -> None:
    """Create or refresh the host's pod rules, shared by every pod. Each table is replaced
    atomically (iptables-restore), so there is no moment without rules; nothing is written
    when the rules in place are already these."""
    async with _host_lock():
        await _install_firewall(network, dns, allowed)


async def remove_firewall() -> None:
    """Remove every rule and chain `install_firewall` made (for tests and uninstalls)."""
    async with _host_lock():
        await _remove_firewall()
