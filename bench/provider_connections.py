"""The CPU of one call to a provider's service: a new connection each time, or a kept one.

    .venv/bin/python bench/provider_connections.py [--calls 300] [--rounds 5]

In one process, on one event loop, one call after another to the benchmarks' provider stub
(bench/upstream_stub.py, answering at once and keeping connections, as nginx does), over http
and over https (a certificate for `localhost` made for the run, trusted by the calls). Each row
is `time.process_time` per call (the best of `--rounds` rounds): the guard, the lookup of
`localhost`, the connection (and TLS handshake) when one is opened, the request, the answer
and its validation. The server's own CPU is not counted: this is what the calls cost us.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import calls_and_rounds, provider_stub, table  # noqa: E402
from tests.certificates import self_signed  # noqa: E402


def cpu_per_call(url: str, trust: ssl.SSLContext | None, keep: bool, calls: int, rounds: int) -> float:
    """Microseconds of CPU per call, the best round."""
    from sessioncloud.provisioning import reuse
    from sessioncloud.provisioning.guard import OutboundPolicy
    from sessioncloud.provisioning.upstream import UpstreamRequest, call_provider

    policy = OutboundPolicy(allow_nets=(ipaddress.ip_network("127.0.0.0/8"),), allow_http=True)
    request = UpstreamRequest(url=url, username="1000", password="pw", timeout_seconds=5)  # noqa: S106 (a made-up login for the stub)

    async def run() -> float:
        if keep:
            reuse.keep_connections(asyncio.get_running_loop())
        best = float("inf")
        await call_provider(request, policy, ssl_context=trust)  # the first connection, if kept
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(calls):
                result = await call_provider(request, policy, ssl_context=trust)
                assert result.error_code is None, result.detail
            best = min(best, (time.process_time() - started) * 1e6 / calls)
        reuse.stop_keeping(asyncio.get_running_loop())
        return best

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = calls_and_rounds(
        __doc__, "CPU of one call to a provider's service, in process", "provider_connections.py", argv
    )
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        cert, key = self_signed(Path(directory), "localhost")
        trust = ssl.create_default_context(cafile=str(cert))
        with provider_stub(0) as http, provider_stub(0, tls=(cert, key)) as https:
            for scheme, stub, context in (("http", http, None), ("https", https, trust)):
                url = stub.url.replace("127.0.0.1", "localhost")
                new = cpu_per_call(url, context, False, args.calls, args.rounds)
                kept = cpu_per_call(url, context, True, args.calls, args.rounds)
                rows.append((scheme, f"{new:.0f}", f"{kept:.0f}", f"{kept / new:.2f}"))
    table(
        f"CPU µs per call, best of {args.rounds} rounds of {args.calls} calls (a provider answering at once)",
        ["scheme", "a new connection each call", "kept connections", "kept / new"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
