"""The public URL (SESSIONCLOUD_PUBLIC_URL) and the address this process serves on.

Phones get logo URLs, and end users get links, on the public URL. When the server is reached
directly (no load balancer in front), the public URL must name the port it listens on, or
every such URL points where nothing answers.
"""

from __future__ import annotations

import sys
from typing import TextIO
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# Addresses that mean "this very machine": a public URL on one of them cannot sit behind a
# load balancer on another port.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}  # noqa: S104 - names, not binds


def url_host(host: str) -> str:
    """A host as it appears in a URL: IPv6 literals in brackets, wildcards as loopback."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind address, shown as where to browse
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def demo_public_url(host: str, port: int) -> str:
    """The public URL of a demo served on host:port (plain HTTP, on this machine)."""
    return f"http://{url_host(host)}:{port}"


def public_port(public_url: str) -> int | None:
    """The port the public URL names, or its scheme's default; None for a malformed URL."""
    try:
        parts = urlsplit(public_url)
        return parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None


def port_mismatch(public_url: str, host: str, port: int) -> str | None:
    """Why the public URL cannot reach a server on host:port, or None when it can (or may).

    A public URL on another host name is taken to sit behind a load balancer, which may well
    listen on another port: only a public URL on this machine's own addresses is checked.
    """
    parts = urlsplit(public_url)
    public_host = (parts.hostname or "").lower()
    if public_host not in LOCAL_HOSTS | {host.lower()}:
        return None
    named = public_port(public_url)
    if named == port:
        return None
    suggested = f"{parts.scheme}://{url_host(public_host)}:{port}"
    return (
        f"SESSIONCLOUD_PUBLIC_URL is {public_url}, but this server listens on port {port}: "
        f"phones would get logo URLs, and end users links, on port {named}, where nothing answers. "
        f"Set SESSIONCLOUD_PUBLIC_URL={suggested}, or the address of the load balancer in front."
    )


def warn_on_port_mismatch(public_url: str, host: str, port: int, out: TextIO | None = None) -> bool:
    """Print the mismatch, if any, before the server starts; True when there was one."""
    problem = port_mismatch(public_url, host, port)
    if problem:
        print(f"Warning: {problem}", file=out or sys.stderr, flush=True)
    return problem is not None
