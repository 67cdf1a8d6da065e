"""Real HTTP and HTTPS servers on 127.0.0.1 for testing the HTTP/TLS checks, over sockets.

Each server runs ``ThreadingHTTPServer`` in a background thread on a free port and answers
per path with what the test configured (status, headers, body, delay); unknown paths get
404. An HTTPS server takes a server-side ``ssl.SSLContext`` (a trustme leaf, say).

TLS is done per accepted connection, in the handler's thread, not on the listening
socket: wrapping the listening socket makes ``accept()`` do the handshake, so one silent
or failing client stalls the whole server. Here ``get_request`` wraps the accepted socket
with ``do_handshake_on_connect=False`` and the handler thread does the handshake with a
timeout.

Clients that give up (timeouts, rejected certificates) are expected, so errors in handler
threads are collected in ``errors`` instead of printed. Stopping the server wakes every
delayed handler, stops the accept loop and joins the handler threads.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# How long a handler waits for a client's handshake or request before giving up.
HANDLER_TIMEOUT = 5.0


@dataclass
class Route:
    """What the server answers on one path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    delay: float = 0.0  # seconds to wait before answering


@dataclass(frozen=True)
class Received:
    """One request as the server got it."""

    method: str
    target: str  # the path and query
    headers: dict[str, str]
    body: bytes


NOT_FOUND = Route(404, {"Content-Type": "text/plain"}, "not found")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Room for a burst of simultaneous connections (the default backlog is 5).
    request_queue_size = 512

    def __init__(self, owner: LocalServer, ssl_context: ssl.SSLContext | None, host: str) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # No handshake here: accept() must never wait on a client.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        with self.owner.lock:
            self.owner.connections.add(sock)
            self.owner.accepted += 1
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.owner.lock:
            self.owner.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = HANDLER_TIMEOUT  # applied to the connection by StreamRequestHandler.setup

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(HANDLER_TIMEOUT)
            self.request.do_handshake()  # in this request's thread, with a timeout
        super().setup()

    def do_GET(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        # A route for the exact path and query wins over one for the path alone.
        route = owner.routes.get(self.path) or owner.routes.get(path, NOT_FOUND)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received = Received(self.command, self.path, dict(self.headers.items()), body)
        # ``in_flight`` counts requests being held (before any answer is sent), so a
        # client can only start its next request after this one stopped counting.
        with owner.lock:
            owner.requests.append(path)
            owner.received.append(received)
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        try:
            if route.delay:
                owner.stopping.wait(route.delay)
        finally:
            with owner.lock:
                owner.in_flight -= 1
        answer = route.body.encode() if isinstance(route.body, str) else route.body
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """One HTTP (or, with ``ssl_context``, HTTPS) server on ``host`` (127.0.0.1) and a
    free port. ``accepted`` counts the connections it accepted, so a test can prove that
    nothing reached it."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.received: list[Received] = []
        self.errors: list[BaseException | None] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()  # accepted and not yet closed
        self.accepted = 0
        self.host = host
        self.scheme = "https" if ssl_context is not None else "http"
        self._server = _Server(self, ssl_context, host)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.scheme}-server-{self.port}",
            daemon=True,
        )

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def route(
        self,
        path: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
        delay: float = 0.0,
    ) -> str:
        """Answer ``path`` (or a path and query, which wins) this way; returns its URL."""
        self.routes[path] = Route(status, dict(headers or {}), body, delay)
        return self.url(path)

    def reset(self) -> None:
        with self.lock:
            self.routes.clear()
            self.requests.clear()
            self.received.clear()
            self.errors.clear()
            self.max_in_flight = self.in_flight

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # wakes delayed handlers
        self._server.shutdown()  # stops the accept loop
        with self.lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            # Unblocks a handler still waiting on a silent client. The plain socket's
            # shutdown, not SSLSocket's, which would pull the TLS object from under it.
            with suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        self._server.server_close()  # closes the socket and joins handler threads
        self._thread.join(timeout=5)

    @classmethod
    @contextmanager
    def running(
        cls, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> Iterator[LocalServer]:
        server = cls(ssl_context, host)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def server_context(leaf: Any) -> ssl.SSLContext:
    """A server-side TLS context presenting a trustme ``LeafCert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens (connections are refused).

    The socket stays bound but never listens, so no other test can take the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()
