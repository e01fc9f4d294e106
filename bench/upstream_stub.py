"""A provider's provisioning service for benchmarks: a fixed latency, or dead (never answers).

    python bench/upstream_stub.py --port 9001 --latency 0.2
    python bench/upstream_stub.py --port 9002 --dead

One asyncio loop, so thousands of calls can wait at once without a thread each; every answer is
an answer (docs/provider-service.md) for the username, after exactly `--latency` s (a call whose
caller goes away first is dropped then). Connections stay open for the caller's next call, as
web servers keep them (`--close` closes each after its answer). `GET /stats` answers at once
with the calls waiting now, the most that ever waited at once, the calls answered and the
connections accepted so far.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass
class Stats:
    in_flight: int = 0
    peak_in_flight: int = 0
    answered: int = 0
    connections: int = 0  # accepted so far


STATS = Stats()
CONNECTION = "keep-alive"  # what the answers say (nginx says it too); "close" with --close


def answer_for(target: str) -> bytes:
    username = parse_qs(urlsplit(target).query).get("username", ["user"])[0]
    return json_answer(
        json.dumps(
            {
                "update": True,
                "errmsg": "",
                "sipaccounts": [
                    {
                        "sipusername": username,
                        "sippassword": f"{username}-secret",
                        "displayname": f"User {username}",
                    }
                ],
            }
        )
    )


def json_answer(body: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {CONNECTION}\r\n\r\n{body}"
    ).encode()


async def caller_left_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait `seconds`, or less if the caller closes the connection first (it sends nothing more)."""
    try:
        async with asyncio.timeout(seconds):
            await reader.read()
    except TimeoutError:
        return False
    return True


async def answer_call(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str, latency: float, dead: bool
) -> bool:
    """Whether the call was answered (the connection may then carry another)."""
    STATS.in_flight += 1
    STATS.peak_in_flight = max(STATS.peak_in_flight, STATS.in_flight)
    try:
        if dead:
            await reader.read()  # hold the connection until the caller gives up
            return False
        if await caller_left_within(reader, latency):
            return False
        writer.write(answer_for(target))
        await writer.drain()
        STATS.answered += 1
        return True
    finally:
        STATS.in_flight -= 1


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float, dead: bool, close: bool
) -> None:
    STATS.connections += 1
    try:
        while not reader.at_eof():
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode("latin-1")
            if target == "/stats":
                writer.write(json_answer(json.dumps(asdict(STATS))))
                await writer.drain()
            elif not await answer_call(reader, writer, target, latency, dead) or close:
                return
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float, dead: bool, close: bool, tls: ssl.SSLContext | None) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency, dead, close), "127.0.0.1", port, backlog=4096, ssl=tls
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--dead", action="store_true")
    parser.add_argument("--close", action="store_true", help="close each connection after its answer")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate")
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
    global CONNECTION
    CONNECTION = "close" if args.close else "keep-alive"
    asyncio.run(serve(args.port, args.latency, args.dead, args.close, tls))


if __name__ == "__main__":
    main()
