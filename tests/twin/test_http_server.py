"""The live twin's HTTP server: bounded, keep-alive, and a disconnect frees the handler."""

from __future__ import annotations

import asyncio

import pytest

from sdobs.sim.live.http import MAX_HEAD, HttpServer, Response


async def _serve(handler):
    server = HttpServer(handler)
    await server.start()
    return server


async def _exchange(port: int, raw: bytes, expect_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536) if not expect_close else reader.read(),
                                  5)
    writer.close()
    return data


def run(coro):
    return asyncio.run(coro)


async def echo(req):
    if req.path == "/boom":
        raise RuntimeError("a bug")
    return Response(200, req.body or req.path.encode(), "text/plain")


@pytest.mark.parametrize(("raw", "status"), [
    (b"garbage\r\n\r\n", b"400"),
    (b"GET / SPDY/3\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413"),
    (b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"400"),
    # RFC 9110 §8.6 Content-Length = 1*DIGIT: what Python's int() also takes is refused
    (b"POST / HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n0123456789", b"400"),
    (b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab", b"400"),
    (b"POST / HTTP/1.1\r\nContent-Length: \xd9\xa2\r\n\r\nab", b"400"),  # Arabic-Indic 2
    (b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", b"400"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n", b"431"),
])
def test_malformed_requests_get_an_error_and_the_server_survives(raw: bytes, status: bytes) -> None:
    async def main():
        server = await _serve(echo)
        try:
            answer = await _exchange(server.port, raw)
            assert answer.split(b" ")[1] == status, answer[:80]
            ok = await _exchange(server.port, b"GET /fine HTTP/1.1\r\nConnection: close\r\n\r\n")
            assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"/fine")
        finally:
            await server.close()

    run(main())


def test_handler_error_is_a_500_and_keep_alive_and_pipelining_work() -> None:
    async def main():
        server = await _serve(echo)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /boom HTTP/1.1\r\n\r\nPOST /a HTTP/1.1\r\nContent-Length: 3\r\n"
                         b"\r\nabcGET /c HTTP/1.1\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            assert data.count(b"HTTP/1.1 ") == 3
            assert b"500 Internal Server Error" in data and data.endswith(b"/c")
            assert b"\r\n\r\nabc" in data
        finally:
            await server.close()

    run(main())


def test_disconnect_cancels_the_waiting_handler() -> None:
    async def main():
        gone = asyncio.Event()

        async def slow(req):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                gone.set()
                raise
            return Response(200)

        server = await _serve(slow)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
            assert server.active_requests == 1
            writer.close()
            await asyncio.wait_for(gone.wait(), 5)
            await asyncio.sleep(0.05)
            assert server.active_requests == 0 and server.open_connections == 0
        finally:
            await server.close()

    run(main())


def test_500_concurrent_slow_requests() -> None:
    async def main():
        async def slow(req):
            await asyncio.sleep(0.5)
            return Response(200, b"done", "text/plain")

        server = await _serve(slow)
        try:
            raw = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
            answers = await asyncio.gather(*[_exchange(server.port, raw) for _ in range(500)])
            assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"done") for a in answers)
        finally:
            await server.close()

    run(main())


def test_the_servers_own_errors_are_not_sniffed() -> None:
    async def main():
        server = await _serve(echo)
        try:
            answer = await _exchange(server.port, b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n")
            head = answer.split(b"\r\n\r\n")[0]
            assert head.startswith(b"HTTP/1.1 400 ") and b"X-Content-Type-Options: nosniff" in head
        finally:
            await server.close()

    run(main())
