"""Drives one paho client's socket from the asyncio event loop (aiomqtt's approach).

paho opens the socket (possibly in a worker thread, since `connect` blocks), and asks for
read and write readiness through its `on_socket_*` callbacks; this class turns those into
`add_reader`/`add_writer` on the loop's thread. Write interest is registered once, not
once per queued packet (every ack would otherwise cost an epoll_ctl), and reading can be
paused so a consumer that falls behind pushes back on the broker through TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

__all__ = ["SocketDriver"]

_RCVBUF = 4 * 1024 * 1024
_SNDBUF = 1024 * 1024


class SocketDriver:
    """Usage:
        driver = SocketDriver(client, on_readable=...)   # before client.connect()
        driver.attach(asyncio.get_running_loop())
        ...; driver.sock is the open socket or None

    Args:
        on_readable: called when the socket has data; default `client.loop_read`.
    """

    def __init__(
        self, client: paho.Client, *, on_readable: Callable[[], object] | None = None
    ) -> None:
        self._client = client
        self._on_readable = on_readable or client.loop_read
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.sock: Any = None
        self._watching_writes = False
        self.paused = False
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def _call_in_loop(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None, "attach() the driver before connecting"
        if self._loop_thread == threading.get_ident():
            callback(*args)
        else:
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch_socket, sock)

    def _watch_socket(self, sock: Any) -> None:
        assert self._loop is not None
        if sock.fileno() < 0:
            return
        self.sock = sock
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
        self._loop.add_reader(sock.fileno(), self._on_readable)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._forget_socket, sock, sock.fileno())

    def _forget_socket(self, sock: Any, fd: int) -> None:
        assert self._loop is not None
        if fd >= 0:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        self._watching_writes = False
        self.paused = False
        if self.sock is sock:
            self.sock = None

    def _on_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch_writes, sock, True)

    def _on_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch_writes, sock, False)

    def _watch_writes(self, sock: Any, wanted: bool) -> None:
        assert self._loop is not None
        fd = sock.fileno()
        if fd < 0 or wanted == self._watching_writes:
            return
        self._watching_writes = wanted
        if wanted:
            self._loop.add_writer(fd, self._client.loop_write)
        else:
            self._loop.remove_writer(fd)

    def pause_reading(self) -> None:
        if self.sock is not None and not self.paused:
            assert self._loop is not None
            self._loop.remove_reader(self.sock.fileno())
            self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        if self.sock is not None and self.sock.fileno() >= 0:
            assert self._loop is not None
            self._loop.add_reader(self.sock.fileno(), self._on_readable)
