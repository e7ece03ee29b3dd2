"""The SSRF guard: webhooks may only reach public http(s) addresses unless WEBHOOK_ALLOW_PRIVATE=1.

A URL is checked when the webhook is created and again before every attempt (names can change
what they resolve to). The delivery session also checks the address it actually connected to, so a
name that resolves to a public address for the check and a private one for the connection (DNS
rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..api.limits import URL_MAX

# Shared address space (RFC 6598, carrier-grade NAT) is not public either; some clouds serve metadata there.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class UnsafeURL(ValueError):
    """A webhook URL that may not be called; the message says why."""


def _getaddrinfo(host: str, port: int) -> list:
    """Resolve a host (tests replace this to make a name resolve where they want)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def refused_reason(address: str) -> str | None:
    """Say why an IP address is not a public one (loopback, private, ...), or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if ip in _SHARED:
        return "shared (carrier-grade NAT)"
    return None


def parse(url: str) -> tuple[str, str, int]:
    """Return (scheme, host, port) of a webhook URL; refuse anything but absolute http(s) URLs."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        raise UnsafeURL(f"url must be an http or https URL of at most {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise UnsafeURL(f"url is not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("url must start with http:// or https://")
    if not parts.hostname:
        raise UnsafeURL("url has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("url must not carry a user name or password")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeURL("url must not contain spaces or control characters")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to a non-public address."""
    _scheme, host, port = parse(url)
    if allow_private:
        return
    try:
        infos = _getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError, OSError) as err:
        raise UnsafeURL(f"url host {host} cannot be resolved ({err})") from None
    for info in infos:
        address = info[4][0]
        reason = refused_reason(address)
        if reason:
            raise UnsafeURL(f"url host {host} resolves to a {reason} address ({address}); it is refused")


def _check_peer(sock: socket.socket) -> None:
    """Close and refuse a connection whose peer is not a public address."""
    address = sock.getpeername()[0]
    reason = refused_reason(address)
    if reason:
        sock.close()
        raise UnsafeURL(f"connected to a {reason} address ({address}); it is refused")


class _CheckedHTTPConnection(HTTPConnection):
    """An HTTP connection that refuses a non-public peer."""

    def _new_conn(self) -> socket.socket:
        """Connect, then check the address actually reached."""
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that refuses a non-public peer before the TLS handshake."""

    def _new_conn(self) -> socket.socket:
        """Connect, then check the address actually reached."""
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _CheckedHTTPPool(HTTPConnectionPool):
    """A pool of checked HTTP connections."""

    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    """A pool of checked HTTPS connections."""

    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    """A requests adapter whose pools check every new connection's peer."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        """Build the pool manager, then swap in the checked pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def session(allow_private: bool) -> requests.Session:
    """Return a requests session for deliveries: no proxies from the environment, peers checked."""
    http = requests.Session()
    http.trust_env = False  # an HTTP(S)_PROXY in the environment must not carry (or hide) deliveries
    if not allow_private:
        adapter = _CheckedAdapter(max_retries=0)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
    return http
