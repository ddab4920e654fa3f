"""HTTP/1.1 to the chatops service over its unix socket, in a few lines of the standard
library's ``socket``: the CLI's commands that ask the service start without importing
``http.client`` (and the ``email`` parser it loads), which costs more than all the rest
of such a command. It speaks only what the service answers: a status line, headers,
then a body with a ``Content-Length``, chunked, or up to the close.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_HEAD = 64 * 1024


class WireError(OSError):
    """The service's answer is not HTTP this client understands."""


class Response:
    def __init__(self, sock: socket.socket, stream: BinaryIO) -> None:
        self._sock, self._stream = sock, stream
        line = stream.readline(MAX_HEAD)
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise WireError(f"not an HTTP answer: {line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            raw = stream.readline(MAX_HEAD)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def chunks(self) -> Iterator[bytes]:
        """The body, as it arrives."""
        stream = self._stream
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = stream.readline(MAX_HEAD)
                if not size_line:
                    return
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    stream.readline(MAX_HEAD)
                    return
                data = stream.read(size)
                stream.readline(MAX_HEAD)  # the CRLF after the chunk
                yield data
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                data = stream.read(min(left, 65536))
                if not data:
                    return
                left -= len(data)
                yield data
        else:
            while data := stream.read(65536):
                yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def lines(self) -> Iterator[bytes]:
        """The body line by line (server-sent events)."""
        pending = b""
        for data in self.chunks():
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line + b"\n"
        if pending:
            yield pending

    def close(self) -> None:
        self._stream.close()
        self._sock.close()


def send(path: Path, method: str, target: str, *, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float | None = None) -> Response:
    """Send one request (the connection closes after the answer); the answer's head."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        head = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        return Response(sock, sock.makefile("rb"))
    except BaseException:
        sock.close()
        raise
