"""Decide which URLs may be fetched, and render URLs safely for logs and errors."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from yarl import URL

from bot.images.errors import HostNotAllowed

__all__ = ["check_url", "is_allowed_host", "normalize_host", "redact_url"]

ALLOWED_SCHEMES = frozenset({"http", "https"})


def normalize_host(host: str) -> str:
    """Lower-case a host name and drop the trailing dot of a fully qualified name."""
    return host.strip().lower().rstrip(".")


def _is_ip_literal(host: str) -> bool:
    """Tell whether `host` is an IPv4 or IPv6 address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_allowed_host(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Tell whether `host` equals an allowed host or is a subdomain of one."""
    host = normalize_host(host)
    if not host:
        return False
    for allowed in allowed_hosts:
        allowed = normalize_host(allowed)
        if not allowed:
            continue
        if host == allowed:
            return True
        # The dot matters: "evilaiquickdraw.com" must not pass as "aiquickdraw.com". An IP
        # address has no subdomains, so "x.127.0.0.1" is never taken for "127.0.0.1".
        if not _is_ip_literal(allowed) and host.endswith("." + allowed):
            return True
    return False


def redact_url(url: str | URL) -> str:
    """Render `url` as scheme://host[:port]/path, without userinfo, query or fragment."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (TypeError, ValueError):
        return "<invalid URL>"
    if not parsed.absolute or parsed.raw_host is None:
        return f"<{parsed.scheme or 'relative'} URL>"
    port = "" if parsed.explicit_port is None else f":{parsed.explicit_port}"
    host = parsed.raw_host
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    return f"{parsed.scheme}://{host}{port}{parsed.raw_path}"


def check_url(url: str | URL, allowed_hosts: Iterable[str]) -> URL:
    """Parse `url` and return it if it may be fetched, else raise HostNotAllowed."""
    safe = redact_url(url)
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (TypeError, ValueError):
        raise HostNotAllowed(f"refused {safe}: not a valid URL", url=safe) from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise HostNotAllowed(f"refused {safe}: only http and https are allowed", url=safe)
    # "https://aiquickdraw.com@evil.com/" connects to evil.com; any userinfo is a trick or a
    # credential, and result URLs never need one.
    if parsed.user is not None or parsed.password is not None:
        raise HostNotAllowed(f"refused {safe}: URLs with user info are not allowed", url=safe)
    # raw_host is the IDNA-encoded name aiohttp will actually connect to.
    host = parsed.raw_host
    if not host or not is_allowed_host(host, allowed_hosts):
        raise HostNotAllowed(f"refused {safe}: host is not in the allowed list", url=safe)
    return parsed
