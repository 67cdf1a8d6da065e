"""A real HTTP server that fills the gaps in moto's standalone server, one call at a time.

moto 5.2.5 lacks some calls the checks make (Synthetics canary runs, Backup selections
and recovery points) and drops some attributes (SNS delivery-status logging). A test
points that one service's endpoint variable (``AWS_ENDPOINT_URL_SYNTHETICS`` …) at a
``GapProxy``: the calls it was told to answer get the test's answer, every other call is
forwarded to moto unchanged, so the rest of the service still behaves like moto. boto3
talks to it over a socket like to any endpoint; nothing is patched.

    with GapProxy.running(moto_url) as proxy:
        proxy.answer("GET", r"/canary/(?P<name>[^/]+)/runs", lambda request: {...})
        monkeypatch.setenv("AWS_ENDPOINT_URL_SYNTHETICS", proxy.url)

A handler takes a ``ProxyRequest`` (method, path, query, form, json, the regex groups, and
``forward()`` for moto's own answer) and returns a JSON-able value (sent as JSON, 200), or
a ``Reply`` for anything else (an XML body, another status). ``requests`` records what
was asked, for assertions.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ProxyRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    groups: dict[str, str]
    upstream: str
    target: str  # the path and query as sent

    @property
    def form(self) -> dict[str, str]:
        """A query-protocol body (SNS, SQS …) as one value per name."""
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def forward(self) -> Reply:
        """moto's answer to this very request."""
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            connection.request(self.method, self.target, self.body, self.headers)
            response = connection.getresponse()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return Reply(response.status, response.read(), headers)
        finally:
            connection.close()


Handler = Callable[[ProxyRequest], Any]


class GapProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.routes: list[tuple[str, re.Pattern[str], Callable[[ProxyRequest], bool], Handler]] = []
        self.requests: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gap-proxy-{self.port}",
            daemon=True,
        )

    def answer(
        self,
        method: str,
        path: str,
        handler: Handler,
        when: Callable[[ProxyRequest], bool] = lambda request: True,
    ) -> None:
        """Answer ``method`` on paths matching the regex ``path`` (and ``when``)."""
        self.routes.append((method.upper(), re.compile(f"^{path}$"), when, handler))

    def answer_action(self, action: str, handler: Handler) -> None:
        """Answer one query-protocol action (``Action=GetTopicAttributes``) with ``handler``."""
        self.answer("POST", "/", handler, when=lambda request: request.form.get("Action") == action)

    def _dispatch(self, request: ProxyRequest) -> Reply:
        with self.lock:
            self.requests.append((request.method, request.path))
        for method, pattern, when, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.groups = match.groupdict()
                if not when(request):
                    continue
                answer = handler(request)
                if isinstance(answer, Reply):
                    return answer
                return Reply(200, json.dumps(answer), {"Content-Type": "application/json"})
        return request.forward()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @classmethod
    @contextmanager
    def running(cls, upstream: str) -> Iterator[GapProxy]:
        proxy = cls(upstream)
        proxy.start()
        try:
            yield proxy
        finally:
            proxy.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: GapProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10

    def _handle(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = ProxyRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP},
            body=self.rfile.read(length) if length else b"",
            groups={},
            upstream=owner.upstream,
            target=self.path,
        )
        try:
            reply = owner._dispatch(request)
        except Exception as exc:  # a broken handler is the test's bug: answer 500, keep it
            owner.errors.append(exc)
            reply = Reply(500, f"{type(exc).__name__}: {exc}", {"Content-Type": "text/plain"})
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass
