"""Where the push sender may connect: public addresses only, checked when a subscription is made
and again on every connection, and never through a redirect.

A subscription's endpoint is a URL a client chose, so it is treated as hostile:

- It must be plain ASCII, without backslashes, and ``urllib.parse`` and urllib3 (what ``requests``
  sends with) must read the same host from it: a URL two parsers read differently is refused.
- Its host, an IP literal in any notation ``inet_aton`` accepts (``127.1``, ``0x7f.1``,
  ``2130706433``, ``0177.0.0.1``) or an IPv6 literal, or every address a name resolves to, must be
  **public**: not loopback, private, shared (CGNAT), link-local, unique- or site-local, multicast,
  unspecified, reserved or documentation, nor an IPv6 form that carries an IPv4 address (mapped,
  compatible, NAT64, 6to4, Teredo).
- At send time ``requests-hardened`` resolves the host once, and urllib3 connects to the address
  that was checked (TLS still verifies the certificate for, and sends SNI of, the URL's host), so a
  name that resolves elsewhere since the subscription (DNS rebinding) is caught too.

``PUSH_ALLOW_PRIVATE_ADDRESSES`` (tests with a push service on loopback; production refuses to
start with it) turns the address checks off, never the refusal of redirects.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from itcook.i18n import gettext

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Not public although Python's ``is_global`` (3.11) may say so, or ranges that embed an IPv4
#: address whose own class would then have to be trusted.
_NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "240.0.0.0/4",
    "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10",
))
_HOSTNAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.?")
_NUMERIC = re.compile(r"[0-9a-fx.]+")


class NotPublic(ValueError):
    """The endpoint's host is, or resolves to, an address the sender must not reach."""


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a global unicast address that embeds no other address."""
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return False
    return not any(ip.version == net.version and ip in net for net in _NOT_PUBLIC)


#: The port of a scheme when the URL names none.
DEFAULT_PORTS = {"https": 443, "http": 80}


def split(endpoint: str, schemes: tuple[str, ...]) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an endpoint URL; ValueError (a message for people) if it is not
    one that every parser reads the same way."""
    if not endpoint.isascii() or not endpoint.isprintable() or " " in endpoint or "\\" in endpoint:
        raise ValueError(gettext("must be an ASCII URL without spaces or backslashes"))
    try:
        parts = urlsplit(endpoint)
    except ValueError:  # unbalanced brackets in the host
        raise ValueError(gettext("is not a valid URL")) from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(gettext("must be an absolute %(schemes)s URL", schemes=" / ".join(schemes)))
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValueError(gettext("must not contain credentials, a fragment or spaces"))
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        sent_to = parse_url(endpoint).host
    except (ValueError, LocationParseError):
        raise ValueError(gettext("has an invalid host or port")) from None
    host = parts.hostname
    if (sent_to or "").lower().strip("[]") != host:
        raise ValueError(gettext("is read differently by different URL parsers"))
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)  # no zone index (fe80::1%eth0)
        except ValueError:
            raise ValueError(gettext("has an invalid IPv6 address")) from None
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(gettext("has an invalid host name"))
    return parts.scheme, host, port


def literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, in any notation the C resolver
    accepts (it is what ``getaddrinfo`` would connect to); None for a name."""
    try:
        return ipaddress.IPv6Address(host)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            pass
    return None


def check(endpoint: str, schemes: tuple[str, ...], *, allow_private: bool, resolve: bool) -> None:
    """Raise ValueError for an endpoint that is not a plain URL of one of ``schemes``, NotPublic
    for one whose host is (or, with ``resolve``, resolves to) a non-public address."""
    scheme, host, port = split(endpoint, schemes)
    if allow_private:
        return
    standard = DEFAULT_PORTS[scheme]
    if port != standard:
        # Push services listen on the standard port; any other one of a public host is a way
        # to make the server knock on that host's other services.
        raise NotPublic(gettext("must use the standard port %(port)s", port=standard))
    ip = literal(host)
    if ip is not None:
        if not is_public(ip):
            raise NotPublic(gettext("%(host)s is not a public address", host=host))
    elif resolve:
        _check_resolved(host, port)


def _check_resolved(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise NotPublic(gettext("%(host)s does not resolve to a public address", host=host)) from None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not is_public(ip):
            raise NotPublic(gettext("%(host)s resolves to %(ip)s, not a public address",
                                    host=host, ip=str(ip)))


class PublicOnlyAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, connect to that address, verify TLS for the
    name), refusing with our stricter notion of public; ``InvalidIPAddress`` when refused."""

    def __init__(self, is_https_proto: bool, pool_maxsize: int) -> None:
        super().__init__(is_https_proto=is_https_proto)
        self.init_poolmanager(DEFAULT_POOLSIZE, pool_maxsize)

    def build_connection_pool_key_attributes(self, request: requests.PreparedRequest, verify: Any,
                                             cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        ip = ipaddress.ip_address(host_params["host"].strip("[]"))
        if not is_public(ip):
            raise InvalidIPAddress(ip)
        return host_params, pool_kwargs


def session(*, allow_private: bool, pool_maxsize: int, timeout: float) -> requests.Session:
    """The sender's HTTP session: redirects never followed; public addresses only unless allowed."""
    http = HTTPSession(Config(ip_filter_enable=False, ip_filter_allow_loopback_ips=False,
                              never_redirect=True, default_timeout=(timeout, timeout)))
    # The environment's proxies and .netrc credentials are not meant for hosts a client chose.
    http.trust_env = False
    for scheme in ("https://", "http://"):
        http.mount(scheme, HTTPAdapter(pool_maxsize=pool_maxsize) if allow_private
                   else PublicOnlyAdapter(scheme == "https://", pool_maxsize))
    return http


__all__ = ["InvalidIPAddress", "NotPublic", "check", "is_public", "literal", "session", "split"]
