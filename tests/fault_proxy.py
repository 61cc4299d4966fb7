"""A TCP proxy in front of PostgreSQL that drops connections on cue: the network's faults.

Every byte between the ledger and the server passes through it. Armed with a fault, it
watches what the client sends and, when a message carrying the fault's SQL text goes
by, cuts the connection either before that message reaches the server (the statement
never ran) or just after (the server runs it, and its reply never arrives: a COMMIT in
flight). It can also cut every connection at once (a server restart, an operator's
pg_terminate_backend) and refuse new ones for a while (the server down).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass
class Fault:
    pattern: bytes  # SQL text in a client message
    after: bool  # True: let the message reach the server, then cut (outcome unknown)
    action: Callable[[], None] | None = None  # e.g. kill the client process instead
    fired: bool = False


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._refuse_until = 0.0
        self._closed = False
        self.recording = False
        self.seen: list[bytes] = []  # what clients sent while recording
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what a test does ------------------------------------------------------------

    def arm(
        self, pattern: bytes, *, after: bool, action: Callable[[], None] | None = None
    ) -> Fault:
        fault = Fault(pattern, after, action)
        with self._lock:
            self._fault = fault
        return fault

    def disarm(self) -> None:
        with self._lock:
            self._fault = None

    def cut_all(self) -> None:
        """Drop every open connection, as a server restart does."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _close(client)
            _close(server)

    def refuse_for(self, seconds: float) -> None:
        """Cut everything and refuse connections for a while: the server is down."""
        self._refuse_until = time.monotonic() + seconds
        self.cut_all()

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        self.cut_all()

    # -- the plumbing ----------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client and self.recording:
                    self.seen.append(data)
                if from_client and self._maybe_fault(data, source, sink):
                    return
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)

    def _maybe_fault(self, data: bytes, client: socket.socket, server: socket.socket) -> bool:
        with self._lock:
            fault = self._fault
            if fault is None or fault.fired or fault.pattern not in data:
                return False
            fault.fired = True
            self._fault = None
        if fault.after:
            with contextlib.suppress(OSError):
                server.sendall(data)
        if fault.action is not None:
            fault.action()
        # Cut the client off at once; the server side goes a moment later, after it
        # has had the message (so a COMMIT in flight does commit).
        _close(client)
        if fault.after:
            time.sleep(0.2)
        _close(server)
        return True


def proxied(url: str) -> tuple[FaultProxy, str]:
    """A proxy in front of the PostgreSQL database at `url`, and the URL through it."""
    parts = urlsplit(url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    through = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    return proxy, urlunsplit(parts._replace(netloc=through))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
