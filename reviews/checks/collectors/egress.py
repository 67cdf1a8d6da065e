"""The egress policy: which network addresses the checks may connect to.

Product leads type the URLs the checks call (health checks, status pages, Prometheus,
repositories…), so without a policy a check is a way to read the portal's own network:
the cloud metadata service, the admin on loopback, databases on private ranges. Every
outbound connection a user-supplied address drives goes through here:

- the host is resolved once, and every address it resolves to is judged: loopback,
  private, link-local, shared, multicast, unspecified, reserved and documentation ranges
  are refused, IPv4-mapped and other IPv6 forms that embed an IPv4 address are judged by
  that address;
- the connection is then made to the address that was judged, never to the name again,
  so DNS rebinding cannot slip another address in between; redirects open new
  connections and are judged again;
- ``CHECK_ALLOWED_NETWORKS`` (CIDRs) opens ranges on purpose. Cloud metadata addresses
  stay refused unless listed by exact address (a /32 or /128), because opening a private
  range must not hand out the machine's cloud credentials by accident.

A refusal is an ``EgressRefused`` (a ``CheckError``): the check's result is an error that
names the address and the rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from reviews.checks.collectors.base import CheckError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*rules: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(cidr), rule) for cidr, rule in rules)


# Cloud providers' instance metadata and credential endpoints (AWS, GCP, Azure, OpenStack
# and DigitalOcean share 169.254.169.254; ECS and EKS hand out task and pod credentials on
# the others; Alibaba's is 100.100.100.200).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)

# Ranges that are not the public internet (RFC 6890 and the IANA special-purpose
# registries), each with the rule a refusal names. The first match wins, so specific
# ranges come before the ones that contain them.
REFUSED_NETWORKS = _networks(
    ("0.0.0.0/8", "an unspecified address (0.0.0.0/8)"),
    ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
    ("10.0.0.0/8", "a private address (RFC 1918, 10.0.0.0/8)"),
    ("172.16.0.0/12", "a private address (RFC 1918, 172.16.0.0/12)"),
    ("192.168.0.0/16", "a private address (RFC 1918, 192.168.0.0/16)"),
    ("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
    ("100.64.0.0/10", "a shared address (carrier-grade NAT, 100.64.0.0/10)"),
    ("192.0.0.0/24", "a reserved address (IETF protocol assignments, 192.0.0.0/24)"),
    ("192.0.2.0/24", "a reserved address (documentation, 192.0.2.0/24)"),
    ("198.51.100.0/24", "a reserved address (documentation, 198.51.100.0/24)"),
    ("203.0.113.0/24", "a reserved address (documentation, 203.0.113.0/24)"),
    ("192.88.99.0/24", "a reserved address (6to4 relay anycast, 192.88.99.0/24)"),
    ("198.18.0.0/15", "a reserved address (benchmarking, 198.18.0.0/15)"),
    ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    ("::/128", "an unspecified address (::)"),
    ("::1/128", "a loopback address (::1)"),
    ("::/8", "a reserved address (::/8)"),
    ("100::/64", "a reserved address (discard, 100::/64)"),
    ("2001:db8::/32", "a reserved address (documentation, 2001:db8::/32)"),
    ("2001::/23", "a reserved address (IETF protocol assignments and Teredo, 2001::/23)"),
    ("fc00::/7", "a private address (unique local, fc00::/7)"),
    ("fe80::/10", "a link-local address (fe80::/10)"),
    ("fec0::/10", "a private address (site-local, fec0::/10)"),
    ("ff00::/8", "a multicast address (ff00::/8)"),
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class EgressRefused(CheckError):
    """A check was about to connect to an address the egress policy refuses."""

    def __init__(self, host: str, address: Address, rule: str) -> None:
        self.host, self.address, self.rule = host, address, rule
        named = str(address) if host == str(address) else f"{host} ({address})"
        super().__init__(
            f"Refused to connect to {named}: it is {rule}, and checks may only reach "
            "the public internet unless an operator allows that network."
        )


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses checks may connect to: the public internet, plus ``allowed``."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls) -> EgressPolicy:
        return cls(tuple(ipaddress.ip_network(n) for n in settings.CHECK_ALLOWED_NETWORKS))

    def refusal(self, address: Address) -> str:
        """Why ``address`` is refused (the rule, in words), or "" when it is allowed."""
        address = _embedded_ipv4(address) or address
        if address in METADATA_ADDRESSES:
            opened = any(n.num_addresses == 1 and address in n for n in self.allowed)
            return "" if opened else "a cloud metadata address"
        if any(address.version == n.version and address in n for n in self.allowed):
            return ""
        for network, rule in REFUSED_NETWORKS:
            if address.version == network.version and address in network:
                return rule
        return ""

    def judge(self, host: str, addresses: Iterable[str]) -> list[str]:
        """``addresses`` (resolved from ``host``) when every one is allowed; otherwise
        EgressRefused naming the first refused one. A name that resolves to one refused
        address among public ones is refused: it is not a public service."""
        judged: list[str] = []
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            rule = self.refusal(address)
            if rule:
                raise EgressRefused(host, address, rule)
            if text not in judged:
                judged.append(text)
        return judged

    async def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses to connect to for ``host``, judged; CheckError if none."""
        host = host.strip("[]")
        try:  # an address needs no lookup (and a sweep makes thousands of connections)
            return self.judge(host, [str(ipaddress.ip_address(host))])
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except TimeoutError:
            raise CheckError(f"Could not resolve {host}: no answer in {timeout:g} s.") from None
        except (socket.gaierror, UnicodeError) as exc:
            raise CheckError(f"Could not resolve {host}: {exc}") from None
        return self.judge(host, [str(info[4][0]) for info in infos])


# --- httpx: a transport that connects only to judged addresses ------------------------------


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but each TCP connection goes to a judged address.

    TLS still verifies the certificate against the host name: httpcore starts TLS on the
    returned stream with the URL's host as the server name.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise CheckError("Checks do not connect to local sockets.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self, policy: EgressPolicy, *, ssl_context: ssl.SSLContext, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx exposes no way to hand its pool a network backend, so the pool is made
        # again with ours (the same arguments AsyncHTTPTransport gives it for no proxy).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )


def guarded_client(
    policy: EgressPolicy,
    *,
    ssl_context: ssl.SSLContext,
    timeout: float,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An httpx client whose every connection, redirects included, obeys ``policy``."""
    limits = limits or httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.AsyncClient(
        transport=_GuardedTransport(policy, ssl_context=ssl_context, limits=limits),
        timeout=httpx.Timeout(timeout),
        trust_env=False,
    )


async def open_tls(
    policy: EgressPolicy, host: str, port: int, ssl_context: ssl.SSLContext, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS connection to a judged address of ``host``, verified against ``host``."""
    addresses = await policy.resolve(host, port, timeout)
    failure: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    address, port, ssl=ssl_context, server_hostname=host.strip("[]")
                ),
                timeout,
            )
        except ssl.SSLError:
            raise
        except OSError as exc:  # TimeoutError included: try the next address
            failure = exc
    assert failure is not None
    raise failure


# --- the service form's warning ----------------------------------------------------------------

_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="egress-lookup")


def url_refusal(url: str, policy: EgressPolicy | None = None, timeout: float = 2.0) -> str:
    """Why checks would refuse ``url``'s host ("" when they would not, or when the name
    does not resolve now): for warning people as they type a URL, not for enforcing."""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    policy = policy or EgressPolicy.from_settings()
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    lookup = _LOOKUPS.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=timeout)
    except (FutureTimeout, OSError, UnicodeError):
        return ""
    try:
        policy.judge(host, [str(info[4][0]) for info in infos])
    except EgressRefused as exc:
        named = str(exc.address) if host == str(exc.address) else f"{host} is {exc.address}"
        return f"{named}, {exc.rule}"
    return ""


# The service settings that checks connect to.
CHECKED_URL_FIELDS = (
    "health_check_url",
    "public_url",
    "status_page_url",
    "repository_url",
    "prometheus_url",
    "alertmanager_url",
)


def service_url_warnings(values: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """A warning for each service URL that checks would refuse (``labels`` name fields)."""
    policy = EgressPolicy.from_settings()
    warnings = []
    for name in CHECKED_URL_FIELDS:
        reason = url_refusal(str(values.get(name) or ""), policy)
        if reason:
            warnings.append(
                f"{labels.get(name, name)}: {reason}. Checks will refuse to connect to it "
                "unless an operator opens that network to them."
            )
    return warnings
