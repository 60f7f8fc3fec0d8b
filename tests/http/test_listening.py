"""The socket ``allot serve`` listens on."""

from __future__ import annotations

import contextlib
import socket

import pytest

from entrypoints.http.server import AddressUnavailable, listen


def test_the_listening_socket_is_marked_tcp_so_that_asyncio_turns_nagle_off_for_each_connection() -> None:
    # With protocol 0, asyncio leaves Nagle on, and each response on a kept-alive connection waits 40 ms for the
    # client's delayed acknowledgement: a 40-fold slower server.
    with contextlib.closing(listen("127.0.0.1", 0)) as listening:
        assert listening.proto == socket.IPPROTO_TCP
        assert listening.getsockname()[1] > 0


def test_a_port_in_use_is_refused_with_a_stable_code() -> None:
    with contextlib.closing(listen("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(AddressUnavailable) as refused:
            listen("127.0.0.1", port)
    assert refused.value.code == "ADDRESS_UNAVAILABLE"
    assert str(port) in refused.value.message
