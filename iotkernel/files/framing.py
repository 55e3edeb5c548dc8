"""Raw frames: file bytes on the board's stdin, and the pump that feeds them.

Owns the frame format both ways (the board side is `rx` and `tx` in
`board/helpers.py`) and `FramePump`, which sends a file's frames as the
board's receiver acknowledges them, bounded by what the board's UART buffer
holds, with a watchdog that interrupts a receiver waiting for a lost byte.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import zlib

from ..device import Device
from ..errors import ProtocolUsageError
from ..util import Progress

# The REPL's control bytes and the escape byte, escaped in raw frames (see
# the board's helpers: `rx`).
_ESCAPED = re.compile(rb"[\x01-\x05\x10]")
# A raw download's escapes (the board's `tx`): 0x10 and the byte + 0x40.
_UNESCAPE = re.compile(rb"\x10(.)", re.DOTALL)
# Bytes of the next frame sent before the board has written the last one:
# they wait in its UART receive buffer (256 bytes on many boards).
UART_PREFETCH = 192
# A raw transfer with no progress for this long (or the idle timeout, if
# longer) has stalled: on a loaded host a slow board must not be taken for it.
MIN_STALL = 5.0


def unescape(printed: bytes) -> bytes:
    """A raw download's bytes as the board's `tx` printed them."""
    return _UNESCAPE.sub(lambda m: bytes((m.group(1)[0] - 0x40,)), printed)


def escape_frame(data: bytes) -> bytes:
    """One raw frame: escaped length (4 hex digits), escaped data, CRC-32."""
    escaped = _ESCAPED.sub(lambda m: b"\x10" + bytes((m.group()[0] + 0x40,)), data)
    return b"%04x" % len(escaped) + escaped + b"%08x" % (zlib.crc32(data) & 0xFFFFFFFF)


class FramePump:
    """Feeds frames to the board's receiver as its acknowledgements come.

    The frames are one stream of bytes; what may be sent runs ahead of what
    the board has read by `ahead` bytes while it writes a frame (they wait
    in its UART buffer: 192 of 256 bytes), and by a whole frame while it
    reads one. A board with no UART to overrun (the unix port's pty) gets
    `ahead` of several frames and a full pipeline. Runs inside the helper
    call's output callback; a watchdog interrupts the board when it stalls.
    """

    def __init__(
        self,
        device: Device,
        frames: list[bytes],
        sizes: list[int],
        ahead: int,
        progress: Progress | None,
    ) -> None:
        self._device = device
        self._stream = b"".join(frames)
        self._ends = list(itertools.accumulate(len(frame) for frame in frames))
        self._sizes = sizes
        self._ahead = ahead
        self._progress = progress
        self._sent = 0  # bytes of the stream sent
        self._read = 0  # frames the board has read
        self._written = 0  # frames the board has written
        self._ready = False
        self._done_bytes = 0
        self._total = sum(sizes)
        self._tail = b""
        self.unexpected: bytes | None = None
        self.stalled = False
        self._last_ack = time.monotonic()
        self._finished = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)

    @property
    def frames(self) -> int:
        return len(self._sizes)

    def start(self) -> None:
        self._watchdog.start()

    def stop(self) -> None:
        self._finished.set()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=2)

    def _watch(self) -> None:
        # A frame sent whole, and no 512 more bytes of it read within the
        # device's idle timeout: a byte was lost on the way and the board
        # waits for it (Ctrl-C ends its wait). Writing a frame may take longer
        # (flash erases, littlefs compaction): that wait is bounded by the
        # call's deadline only.
        while not self._finished.wait(0.1):
            if not self._reading():
                continue
            if time.monotonic() - self._last_ack > max(self._device.idle_timeout, MIN_STALL):
                self.stalled = True
                self._device.interrupt()
                return

    def _reading(self) -> bool:
        """The board reads a frame now and waits for nothing else to read
        (every frame before it written, it sent whole)."""
        index = self._read
        return (
            index < len(self._ends) and self._written == index and self._sent >= self._ends[index]
        )

    def feed(self, data: bytes) -> None:
        data = self._tail + data
        self._tail = b""
        index = data.find(b"\x06")
        while index >= 0 and self.unexpected is None:
            if index + 1 >= len(data):
                self._tail = data[index:]
                return
            self._on_ack(data[index + 1 : index + 2])
            index = data.find(b"\x06", index + 2)

    def _on_ack(self, kind: bytes) -> None:
        self._last_ack = time.monotonic()
        if kind == b".":
            return  # another 512 bytes read: the board is not stuck
        if kind == b"R":
            self._ready = True
        elif kind == b"r":
            self._read += 1
        elif kind == b"d":
            self._done_bytes += self._sizes[self._written]
            self._written += 1
            if self._progress is not None:
                self._progress(self._done_bytes, self._total)
        else:
            self.unexpected = kind  # not our receiver speaking: stop sending
            return
        self._send()

    def _send(self) -> None:
        if not self._ready or self._read >= len(self._ends):
            return
        read_upto = self._ends[self._read - 1] if self._read else 0
        limit = read_upto + self._ahead
        if self._written == self._read:  # the board reads now: the frame whole
            limit = max(limit, self._ends[self._read])
        limit = min(limit, len(self._stream))
        while self._sent < limit:
            piece = self._stream[self._sent : min(limit, self._sent + 4096)]
            try:
                self._device.send_input(piece)
            except ProtocolUsageError:
                return  # the receiver has ended (its error is on the way)
            self._sent += len(piece)
