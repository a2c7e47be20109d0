"""IP allow/block patterns: exact addresses, CIDR ranges (IPv4 and IPv6) and octet wildcards."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_pattern(pattern: str) -> IPNetwork | tuple[str, ...]:
    """A network for exact/CIDR patterns, or octets for wildcards like `192.168.*.*`.

    Raises ValueError with a message that names the pattern.
    """
    text = pattern.strip()
    if "*" in text:
        octets = tuple(text.split("."))
        if len(octets) != 4 or not all(o == "*" or (o.isdigit() and 0 <= int(o) <= 255) for o in octets):
            raise ValueError(f"{pattern!r} is not a valid IPv4 wildcard (like 192.168.*.*)")
        return octets
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"{pattern!r} is not an IP address, CIDR range or wildcard") from exc


@dataclass(frozen=True)
class IPMatcher:
    networks: tuple[IPNetwork, ...]
    wildcards: tuple[tuple[str, ...], ...]

    @classmethod
    def from_patterns(cls, patterns: list[str]) -> IPMatcher:
        parsed = [parse_pattern(p) for p in patterns]
        return cls(
            tuple(p for p in parsed if not isinstance(p, tuple)),
            tuple(p for p in parsed if isinstance(p, tuple)),
        )

    def __bool__(self) -> bool:
        return bool(self.networks or self.wildcards)

    def matches(self, client_ip: str | None) -> bool:
        if client_ip is None:
            return False
        try:
            address: IPAddress = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.networks):
            return True
        if isinstance(address, ipaddress.IPv4Address) and self.wildcards:
            octets = str(address).split(".")
            return any(
                all(w in ("*", o) for w, o in zip(wild, octets, strict=True)) for wild in self.wildcards
            )
        return False


@dataclass(frozen=True)
class IPFilter:
    allow: IPMatcher
    block: IPMatcher
    empty: bool = field(init=False)  # read on every request: worked out once

    def __post_init__(self) -> None:
        object.__setattr__(self, "empty", not self.allow and not self.block)

    @classmethod
    def build(cls, allow: list[str], block: list[str]) -> IPFilter:
        return cls(IPMatcher.from_patterns(allow), IPMatcher.from_patterns(block))

    def permits(self, client_ip: str | None) -> bool:
        """Blocked wins; a non-empty allow list admits only its own addresses."""
        if self.empty:  # the common case: no lists, no address parsing
            return True
        if self.block.matches(client_ip):
            return False
        return not self.allow or self.allow.matches(client_ip)


NO_FILTER = IPFilter.build([], [])
