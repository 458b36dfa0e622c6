"""A local stand-in for the Energi Data Service API: a real HTTP server on 127.0.0.1."""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False


@dataclass
class Received:
    path: str
    raw_query: str
    params: dict[str, str]


class FakeEnergiDataService:
    """Serves queued replies in order (then `default`) and records every request it receives."""

    def __init__(self) -> None:
        self.url = ""
        self.replies: deque[Reply] = deque()
        self.default: Reply | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def reply(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.replies.append(Reply(status, body, headers or {}))

    def next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            if self.replies:
                return self.replies.popleft()
        if self.default is not None:
            return self.default
        return Reply(418, b'{"message": "the test queued no reply for this request"}')

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {key: values[0] for key, values in parse_qs(parts.query).items()}
                reply = service.next_reply(Received(parts.path, parts.query, params))
                if reply.drop_connection:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def serve() -> Iterator[FakeEnergiDataService]:
    """Start the server on an ephemeral port; stop it when the block ends."""
    service = FakeEnergiDataService()
    server = ThreadingHTTPServer(("127.0.0.1", 0), service.handler_class())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
