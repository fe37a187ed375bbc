"""waitress as the backend runs it: a file body leaves through ``sendfile(2)``.

Stock waitress sends a ``wsgi.file_wrapper`` body by reading the file into a bytes object
and sending that: every byte crosses Python twice, which made up most of the image
route's cost (bench/bench_serve.py). Here the wrapper hands the channel a span of the
file instead of its bytes, and the channel gives the span to the kernel. Everything else
is waitress unchanged: it still decides when and how much to send, and keeps the file's
position through ``skip``. Bodies that are not a whole regular file (a Range answer,
which werkzeug wraps; a 304 or HEAD, which have none) never reach this path.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from typing import IO, Any, NamedTuple

from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

#: A WSGI application, as PEP 3333 calls it.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: What a send to a client that went away fails with; waitress treats the same set so.
_DISCONNECTED = frozenset(
    {errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.ECONNABORTED, errno.EPIPE}
)


class FileSpan(NamedTuple):
    """*length* bytes of the open file *fd* from *offset*: what the channel is to send."""

    fd: int
    offset: int
    length: int


class SendfileBuffer(ReadOnlyFileBasedBuffer):
    """``wsgi.file_wrapper`` whose chunks are spans of a regular file, not its bytes.

    The position is kept here rather than in the file: every ``tell``/``seek`` is a system
    call, and each one lets another worker thread take the GIL.
    """

    def __init__(self, file: IO[bytes], block_size: int = 32768) -> None:
        super().__init__(file, block_size)  # type: ignore[arg-type]  # stub: BytesIO only
        self.fileno: int | None = None
        self.size = 0
        self.offset = 0
        try:
            descriptor = file.fileno()
            status = os.fstat(descriptor)
        except (AttributeError, OSError, ValueError):  # BytesIO and friends: stock path
            return
        if stat.S_ISREG(status.st_mode):
            self.fileno, self.size = descriptor, status.st_size

    def prepare(self, size: int | None = None) -> int:
        if self.fileno is None:
            prepared: int = super().prepare(size)
            return prepared
        self.offset = self.file.tell()
        available = max(self.size - self.offset, 0)
        self.remain = available if size is None else min(available, size)
        return self.remain

    def get(self, numbytes: int = -1, skip: bool = False) -> Any:
        if self.fileno is None:
            return super().get(numbytes, skip)
        if numbytes == -1 or numbytes > self.remain:
            numbytes = self.remain
        span = FileSpan(self.fileno, self.offset, numbytes)
        if skip:
            self.skip(numbytes)
        return span

    def skip(self, numbytes: int, allow_prune: int = 0) -> None:
        if self.fileno is None:
            super().skip(numbytes, allow_prune)
            return
        if numbytes > self.remain:
            raise ValueError(f"cannot skip {numbytes} bytes of {self.remain}")
        self.offset += numbytes
        self.remain -= numbytes


class SendfileChannel(HTTPChannel):
    """An HTTP channel that passes a :class:`FileSpan` to ``sendfile(2)``."""

    def send(self, data: Any, do_close: bool = True) -> int:
        if not isinstance(data, FileSpan):
            sent: int = super().send(data, do_close)
            return sent
        if self.socket is None:  # closed meanwhile
            return 0
        try:
            return os.sendfile(self.socket.fileno(), data.fd, data.offset, data.length)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as why:
            if why.errno not in _DISCONNECTED:
                raise
            if do_close:
                self.handle_close()
            return 0


def _with_sendfile_wrapper(app: WSGIApp) -> WSGIApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["wsgi.file_wrapper"] = SendfileBuffer
        return app(environ, start_response)

    return application


def create_waitress_server(
    app: WSGIApp, *, host: str, port: int, threads: int
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for *app* that sends file bodies with ``sendfile(2)``; not started.

    :raises OSError: when the address cannot be bound (``EADDRINUSE`` for a taken port).
    """
    sockets: dict[int, Any] = {}
    server = create_server(
        _with_sendfile_wrapper(app), map=sockets, host=host, port=port, threads=threads
    )
    # One listener per address a host name resolves to (localhost: 127.0.0.1 and ::1).
    for listener in sockets.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = SendfileChannel
    return server
