"""A TCP proxy in front of the test PostgreSQL server that loses a connection at the worst moment:
after the server committed a statement, before its answer reaches the client (an ambiguous commit).

psycopg2 sends each statement as one simple Query message ('Q'); the server's answer ends with
ReadyForQuery ('Z'), whose status byte is 'I' once no transaction is open: then the statement (or
the COMMIT of the transaction it ran in) has committed. The proxy holds the answer to each
statement matching `pattern` and to the COMMIT after one; at the `skip + 1`-th such commit it closes
both sockets instead of passing the answer on. It cuts one connection so; every other byte, and
every later connection, passes through untouched.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

_STARTUP_ANSWERED_IN_ONE_BYTE = (80877103, 80877104)  # SSLRequest, GSSENCRequest: the server says 'N' or 'S'


class CuttingProxy:
    """Listens on 127.0.0.1; `url(server_url)` is the same database reached through it."""

    def __init__(self, upstream_port: int, pattern: str, *, skip: int = 0) -> None:
        self.upstream_port, self.pattern, self.skip = upstream_port, re.compile(pattern), skip
        self.commits = 0  # commits of matching statements seen so far
        self.cut: str | None = None  # the statement whose committed answer was lost, once it was
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, server_url: str) -> str:
        parts = urlsplit(server_url)
        netloc = f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            _Connection(self, client, server).start()

    def cuts_at(self, statement: str) -> bool:
        """A matching statement committed: is this the commit whose answer is lost?"""
        with self._lock:
            self.commits += 1
            if self.cut is None and self.commits > self.skip:
                self.cut = statement
                return True
            return False


class _Connection:
    """One client's connection, relayed message by message."""

    def __init__(self, proxy: CuttingProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.watched: str | None = None  # the matching statement whose answer is being held
        self.in_transaction: str | None = None  # a matching statement ran in the open transaction

    def start(self) -> None:
        threading.Thread(target=self._from_client, daemon=True).start()

    def _from_client(self) -> None:
        try:
            self._startup()
            threading.Thread(target=self._from_server, daemon=True).start()
            while True:
                kind, body = _message(self.client)
                if kind == b"Q":
                    self._watch(body[:-1].decode("utf-8", "replace"))
                self.server.sendall(_packed(kind, body))
        except (EOFError, OSError):
            self._close()

    def _startup(self) -> None:
        """Pass the startup packets on (an SSL or GSS request is answered with one byte)."""
        while True:
            (length,) = struct.unpack("!i", _exactly(self.client, 4))
            rest = _exactly(self.client, length - 4)
            self.server.sendall(struct.pack("!i", length) + rest)
            if struct.unpack("!i", rest[:4])[0] not in _STARTUP_ANSWERED_IN_ONE_BYTE:
                return
            self.client.sendall(_exactly(self.server, 1))

    def _watch(self, statement: str) -> None:
        word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if word == "COMMIT" and self.in_transaction is not None:
            self.watched = self.in_transaction
        elif word == "ROLLBACK":
            self.watched = self.in_transaction = None
        else:
            self.watched = statement if self.proxy.pattern.search(statement) else None

    def _from_server(self) -> None:
        held = b""
        try:
            while True:
                kind, body = _message(self.server)
                statement = self.watched
                if statement is None:
                    self.client.sendall(_packed(kind, body))
                    continue
                held += _packed(kind, body)
                if kind == b"E":  # it failed: nothing commits
                    self.watched = None
                elif kind != b"Z":
                    continue
                elif body[:1] == b"T":  # in a transaction: it commits with the transaction's COMMIT
                    self.in_transaction, self.watched = statement, None
                else:
                    self.in_transaction = self.watched = None
                    if body[:1] == b"I" and self.proxy.cuts_at(statement):
                        self._close()
                        return
                self.client.sendall(held)
                held = b""
        except (EOFError, OSError):
            self._close()

    def _close(self) -> None:
        for connection in (self.client, self.server):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def _message(connection: socket.socket) -> tuple[bytes, bytes]:
    kind = _exactly(connection, 1)
    (length,) = struct.unpack("!i", _exactly(connection, 4))
    return kind, _exactly(connection, length - 4)


def _packed(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
