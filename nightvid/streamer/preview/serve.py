"""The preview as a small web page with an MJPEG stream, for machines without a display.

Standard library only: a ``ThreadingHTTPServer`` with four routes,

- ``/``: the page (the stream, buttons for the preview's keys, keyboard shortcuts);
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG parts, one per new view, which
  every browser shows as a moving image;
- ``/snapshot.jpg``: the newest view as a single JPEG;
- ``POST /key``: a key press from the page (one of ``keys.KEYS``), handed to the main loop.

The main loop publishes JPEG bytes to a ``FrameHub``; each client's handler thread waits
on the hub with a timeout, so it notices a closed hub or a gone client within a
fraction of a second, and ``close`` joins them all. Binding defaults to loopback: the
stream shows a camera, so exposing it to the network is the user's explicit choice.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nightvid.errors import NightvidError
from nightvid.streamer.preview.keys import KEYS

__all__ = ["FrameHub", "MjpegServer", "parse_address"]

log = logging.getLogger(__name__)

BOUNDARY = "nightvid-frame"
#: How often a waiting stream handler checks whether the hub closed.
_WAIT_S = 0.25
#: A client that accepts no data for this long is dropped (keeps joins bounded).
_CLIENT_TIMEOUT_S = 5.0

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nightvid preview</title>
<style>
 body {{ margin: 0; background: #111; color: #ddd; font: 14px sans-serif; }}
 img {{ display: block; width: 100%; height: auto; image-rendering: pixelated; }}
 #bar {{ padding: 6px 8px; }} button {{ margin-right: 4px; }}
</style></head>
<body>
<img id="view" src="/stream.mjpg" alt="nightvid preview: original | enhanced">
<div id="bar">
 <button data-key="m">m: next model</button>
 <button data-key="-">-: darker</button><button data-key="+">+: brighter</button>
 <button data-key="s">s: snapshot</button><button data-key="r">r: record</button>
 <button data-key="q">q: quit</button> <span>{source}</span>
</div>
<script>
function send(k) {{
  fetch("/key", {{method: "POST", headers: {{"X-Nightvid-Key": k}}, body: k}});
}}
document.querySelectorAll("button").forEach(b => b.onclick = () => send(b.dataset.key));
document.addEventListener("keydown", e => {{ if ("{keys}".includes(e.key)) send(e.key); }});
</script>
</body></html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[v6]:PORT`` -> (host, port); host defaults to loopback.

    Example:
        >>> parse_address("8080"), parse_address("0.0.0.0:80"), parse_address("[::1]:0")
        (('127.0.0.1', 8080), ('0.0.0.0', 80), ('::1', 0))
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "", text.strip()
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise NightvidError(f"--serve wants HOST:PORT (e.g. 127.0.0.1:8080), got {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FrameHub:
    """The newest JPEG, a sequence number, and a condition the stream handlers wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self.closed = False
        self.clients = 0

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self._jpeg, self._seq = jpeg, self._seq + 1
            self._cond.notify_all()

    def latest(self) -> bytes | None:
        with self._cond:
            return self._jpeg

    def wait_newer(self, seq: int, timeout: float = _WAIT_S) -> tuple[bytes | None, int]:
        """The newest JPEG once its number passes ``seq`` (``None`` on timeout or close)."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed or self._seq > seq, timeout)
            if self.closed or self._seq <= seq:
                return None, seq
            return self._jpeg, self._seq

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _CLIENT_TIMEOUT_S  # socket timeout: a stalled client cannot hold a thread
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.server.page)
        elif path == "/stream.mjpg":
            self._stream()
        elif path == "/snapshot.jpg":
            jpeg = self.server.hub.latest()
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        # A custom header makes a cross-site page's fetch need a CORS preflight, which
        # this server never answers: only the preview's own page can press keys.
        key = self.headers.get("X-Nightvid-Key", "")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 64))
        if self.path != "/key" or key not in KEYS or len(key) != 1:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"unknown key\n")
            return
        self.server.keys.put(key)
        self._send(HTTPStatus.NO_CONTENT, "text/plain", b"")

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        hub = self.server.hub
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = 0
        with self.server.count_lock:
            hub.clients += 1
        try:
            while not hub.closed:
                jpeg, seq = hub.wait_newer(seq)
                if jpeg is None:
                    continue
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            log.debug("stream client %s went away", self.address_string())
        finally:
            with self.server.count_lock:
                hub.clients -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close joins the handlers (each ends within _WAIT_S)
    block_on_close = True

    def __init__(self, address: tuple[str, int], page: bytes) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.hub = FrameHub()
        self.keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.count_lock = threading.Lock()
        self.page = page
        super().__init__(address, _Handler)


class MjpegServer:
    """Serves the preview at ``http://HOST:PORT/`` from a background thread until ``close``."""

    def __init__(self, host: str, port: int, *, title: str = "") -> None:
        import html

        page = _PAGE.format(source=html.escape(title), keys=KEYS).encode()
        try:
            self._server = _Server((host, port), page)
        except OSError as err:
            raise NightvidError(f"cannot serve on {host}:{port} ({err.strerror or err})") from None
        if not is_loopback(host):
            log.warning("serving the preview on %s: anyone who can reach this machine can watch it", host)
        bound_host, bound_port = str(self._server.server_address[0]), int(self._server.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="mjpeg-server", daemon=True
        )
        self._thread.start()

    @property
    def clients(self) -> int:
        return self._server.hub.clients

    def publish(self, jpeg: bytes) -> None:
        self._server.hub.publish(jpeg)

    def keys(self) -> list[str]:
        """Keys pressed on the page since the last call."""
        out = []
        while True:
            try:
                out.append(self._server.keys.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop serving: wake and end every stream, stop the loop, join the threads."""
        self._server.hub.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
