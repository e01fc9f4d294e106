"""A provider's provisioning service for benchmarks: a fixed latency, or dead (never answers).

    python bench/upstream_stub.py --port 9001 --latency 0.2
    python bench/upstream_stub.py --port 9002 --dead

One asyncio loop, so thousands of calls can wait at once without a thread each; every answer is
the SPEC 6.3 JSON for the username asked, after exactly `--latency` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import parse_qs, urlsplit


def answer_for(target: str) -> bytes:
    username = parse_qs(urlsplit(target).query).get("username", ["user"])[0]
    body = json.dumps({"update": True, "errmsg": "", "sipaccounts": [
        {"sipusername": username, "sippassword": f"{username}-secret", "displayname": f"User {username}"}]})
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}").encode()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float, dead: bool) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if dead:
            await reader.read()  # hold the connection until the caller gives up
            return
        target = head.split(b" ", 2)[1].decode("latin-1")
        await asyncio.sleep(latency)
        writer.write(answer_for(target))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(port: int, latency: float, dead: bool) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, latency, dead), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--dead", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.latency, args.dead))


if __name__ == "__main__":
    main()
