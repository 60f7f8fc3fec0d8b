"""``allot serve`` as a process: it listens, answers, drains the request under way on SIGTERM and exits 0; a port
in use is a clear refusal. And the socket it listens on."""

from __future__ import annotations

import socket

from entrypoints.http.server import listen


def test_the_listening_socket_is_tcp_so_that_asyncio_turns_nagle_off_on_every_connection() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; with proto 0 every keep-alive response
    # written in two parts waited ~40 ms for the client's delayed ACK.
    listening = listen("127.0.0.1", 0)
    try:
        assert listening.proto == socket.IPPROTO_TCP
        client = socket.create_connection(listening.getsockname()[:2], timeout=5)
        accepted, _ = listening.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP
    finally:
        listening.close()
