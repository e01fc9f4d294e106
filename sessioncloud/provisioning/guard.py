"""The outbound address guard: the provider URLs SessionCloud may call (docs/provider-service.md).

Only public unicast addresses pass, unless the operator allowed a network explicitly. The
classification uses explicit tables rather than `ipaddress.is_global`, whose answers changed
between Python patch releases (and which calls `::127.0.0.1` global).

Refusals are logged to `sessioncloud.security` (host and reason only, never the query string,
which carries the end user's password), so an operator can alert on them.
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

security_log = logging.getLogger("sessioncloud.security")

MAX_URL_LENGTH = 2048

# Checked in order, so the specific reasons (metadata) win over the broad ones (link-local).
_IPV4_REFUSED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("169.254.169.254/32", "a cloud metadata address"),
        ("169.254.170.2/32", "a cloud metadata address"),  # AWS ECS task metadata
        ("100.100.100.200/32", "a cloud metadata address"),  # Alibaba Cloud
        ("168.63.129.16/32", "a cloud metadata address"),  # Azure wireserver, publicly numbered
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # includes the broadcast address
    )
)

_IPV6_REFUSED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("fd00:ec2::254/128", "a cloud metadata address"),  # AWS IMDS over IPv6
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("2001::/32", "a Teredo tunnel address"),  # obsolete tunnelling; never a provider
        ("2001:2::/48", "a benchmarking address"),
        ("2001::/23", "a reserved address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")

_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
# A last label like `1`, `0x7f` or `0177` makes resolvers and URL parsers read the host as an
# IPv4 number, so such hosts are treated as addresses, never as names.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class GuardError(Exception):
    """An outbound URL or address that may not be called; `code` is machine-readable."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class OutboundPolicy:
    """What the operator allows beyond public unicast HTTPS. The defaults are closed."""

    allow_nets: tuple[IPNetwork, ...] = ()
    allow_http: bool = False

    @classmethod
    def from_settings(cls, allow_nets: Iterable[str], allow_http: bool = False) -> OutboundPolicy:
        """Build a policy from CIDR strings (e.g. SESSIONCLOUD_OUTBOUND_ALLOW_NETS split on commas)."""
        nets = tuple(ip_network(net.strip(), strict=False) for net in allow_nets if net.strip())
        return cls(allow_nets=nets, allow_http=allow_http)

    def allows(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow_nets)


@dataclass(frozen=True)
class ParsedTarget:
    """A checked URL split into the parts the caller needs; `ip` is set for a literal address."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None


def check_address(ip: IPAddress | str, policy: OutboundPolicy) -> None:
    """Raise GuardError unless `ip` is public unicast or inside an allowed network."""
    address = _as_address(ip)
    reason = refusal_reason(address, policy)
    if reason is not None:
        raise _refused("address_refused", f"{address} is {reason}", host=str(address))


def refusal_reason(ip: IPAddress, policy: OutboundPolicy) -> str | None:
    """Why `ip` may not be called (e.g. "a loopback address"), or None when it may."""
    if policy.allows(ip):
        return None
    if isinstance(ip, IPv4Address):
        return _ipv4_reason(ip)
    return _ipv6_reason(ip, policy)


def check_url(url: str, policy: OutboundPolicy) -> ParsedTarget:
    """Check a provider URL's form and, for a literal address, the address itself."""
    return _checked_url(url, policy)


# Every provisioning call checks its App's URL again; the answer depends on nothing else, so
# the URLs that passed are remembered (refusals are not: each one is checked and logged anew).
@functools.lru_cache(maxsize=1024)
def _checked_url(url: str, policy: OutboundPolicy) -> ParsedTarget:
    parts = _split_url(url, policy)
    host = _normalise_host(parts.hostname or "", parts.netloc)
    ip = _literal_address(host)
    if ip is not None:
        reason = refusal_reason(ip, policy)
        if reason is not None:
            spelled = host if host == str(ip) else f"{host} ({ip})"
            raise _refused("address_refused", f"{spelled} is {reason}", host=host)
    return ParsedTarget(scheme=parts.scheme, host=str(ip) if ip else host, port=parts.port, ip=ip)


def resolve_checked(host: str, port: int, policy: OutboundPolicy) -> list[str]:
    """Resolve `host` once and return its addresses; refuse if any one of them is refused.

    Refusing on any (rather than skipping bad ones) keeps a name that mixes a public and an
    internal address from reaching the internal one on a retry or a happy-eyeballs race.
    """
    literal = _literal_address(host)
    if literal is not None:
        check_address(literal, policy)
        return [str(literal)]
    addresses = _resolve(host, port)
    for address in addresses:
        reason = refusal_reason(ip_address(address), policy)
        if reason is not None:
            raise _refused("address_refused", f"{host} resolves to {address}, {reason}", host=host)
    return addresses


def check_url_for_save(url: str, policy: OutboundPolicy) -> list[str]:
    """The save-time check (portal and management API): errors raise, soft problems are returned.

    Its messages are shown to the tenant who saves the URL, so they name what the tenant typed
    and nothing the service learnt from its own resolver.

    A name that does not resolve yet is accepted with a warning, because providers often save
    the URL before their DNS is live; the check at call time is the real control.
    """
    target = check_url(url, policy)  # a refused literal address is named: the tenant typed it
    if target.ip is not None:
        return []
    try:
        resolve_checked(target.host, target.port, policy)
    except GuardError as error:
        if error.code == "dns_failed":
            return [f"{target.host} does not resolve yet; SessionCloud checks it again on every call."]
        # What a name resolves to inside this network is not the tenant's to learn: the detail
        # went to the security log, the tenant is told only that the address is not allowed.
        raise GuardError(
            error.code, f"{target.host} resolves to an address SessionCloud may not call"
        ) from None
    return []


def _ipv4_reason(ip: IPv4Address) -> str | None:
    for net, reason in _IPV4_REFUSED:
        if ip in net:
            return reason
    return None


def _ipv6_reason(ip: IPv6Address, policy: OutboundPolicy) -> str | None:
    ip = IPv6Address(int(ip))  # drops a %scope suffix, which would not change the verdict
    for net, reason in _IPV6_REFUSED:
        if ip in net:
            return reason
    # Mapped and compatible forms are refused whatever they embed: public DNS never needs them,
    # and allowing them would let an allowed IPv4 network leak into IPv6 spellings.
    if ip.ipv4_mapped is not None:
        return f"an IPv4-mapped form of {ip.ipv4_mapped}"
    if ip in _IPV4_COMPATIBLE:
        return f"an IPv4-compatible form of {IPv4Address(int(ip))}"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        form, ipv4 = embedded
        inner = refusal_reason(ipv4, policy)
        return f"a {form} form of {ipv4}, {inner}" if inner else None
    if ip not in _GLOBAL_UNICAST_V6:
        return "a reserved address"
    return None


def _embedded_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """NAT64 and 6to4 addresses reach an IPv4 host; they are judged by that host."""
    if ip in _NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR and ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    return None


@dataclass(frozen=True)
class _UrlParts:
    scheme: str
    netloc: str
    hostname: str | None
    port: int


def _split_url(url: str, policy: OutboundPolicy) -> _UrlParts:
    if len(url) > MAX_URL_LENGTH:
        raise _refused("url_invalid", f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Spaces, control characters and backslashes are where URL parsers disagree about the
    # host; a provider URL never needs them.
    if _UNSAFE_URL_CHARS.search(url):
        raise _refused("url_invalid", "the URL must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _refused("url_invalid", "the URL cannot be parsed") from None
    try:
        port = parts.port
    except ValueError:
        raise _refused("url_invalid", "the port must be a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (scheme == "http" and not policy.allow_http):
        raise _refused("scheme_refused", "the URL must start with https://")
    if "@" in parts.netloc:
        raise _refused("userinfo_refused", "the URL must not contain a user name or password")
    if port == 0:  # urlsplit accepts it; nothing can listen there
        raise _refused("url_invalid", "the port must be a number from 1 to 65535")
    default_port = 443 if scheme == "https" else 80
    return _UrlParts(scheme, parts.netloc, parts.hostname, port or default_port)


def _normalise_host(hostname: str, netloc: str) -> str:
    if not hostname:
        raise _refused("host_missing", "the URL has no host")
    if netloc.startswith("["):
        return hostname  # an IPv6 literal, checked by _literal_address
    try:
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise _refused("url_invalid", "the host is not a valid name") from None
    host = host.lower().removesuffix(".")
    if not _HOSTNAME.match(host):
        raise _refused("url_invalid", "the host is not a valid name")
    return host


def _literal_address(host: str) -> IPAddress | None:
    """The address a literal host stands for, in any spelling a resolver accepts.

    `2130706433`, `0x7f.1`, `127.1` and `0177.0.0.1` are all 127.0.0.1 to inet_aton, which is
    what getaddrinfo uses for numeric hosts; parsing them the same way closes that bypass.
    """
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            raise _refused("url_invalid", "the host is not a valid IPv6 address") from None
    if not _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        return None
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        raise _refused("url_invalid", f"{host} looks like an IPv4 address but is not a valid one") from None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise GuardError("dns_failed", f"{host} does not resolve ({_gai_reason(error)})") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise GuardError("dns_failed", f"{host} does not resolve (no addresses)")
    return addresses


def _gai_reason(error: Exception) -> str:
    if isinstance(error, socket.gaierror) and len(error.args) > 1:
        return str(error.args[1])
    return str(error)


def _as_address(ip: IPAddress | str) -> IPAddress:
    if isinstance(ip, str):
        return ip_address(ip.split("%", 1)[0])
    return ip


def _refused(code: str, message: str, host: str | None = None) -> GuardError:
    security_log.warning(
        "outbound call refused: %s",
        message,
        extra={"event": "outbound_refused", "code": code, "host": host},
    )
    return GuardError(code, message)
