"""Writing a file on the board: the write strategies and their fallback order.

Every strategy writes to a temporary beside the target, has the board verify
it against the host's hash (SHA-256, or CRC-32 without hashlib) and only then
renames it over the target, so a failed or cut write leaves the old file
intact. In the order `write_on_board` tries them:

1. `write_in_one`: a file that fits one chunk, in one round trip.
2. `write_raw`: raw frames on the board's stdin (`framing.py`), deflated
   where the board inflates and it pays; about the link's byte rate.
3. `write_chunks`: base64 chunks in source, one round trip each: the path
   every board has.

A strategy that cannot do the job says so with `TryNext`; the board's
MemoryError halves the chunk (the profile's policy) and the same strategy
goes again, in a loop.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import zlib

from .. import replies
from ..errors import DeviceException, IotKernelError
from ..util import Progress
from .errors import FileError, TransferVerificationError, write_failure
from .framing import UART_PREFETCH, FramePump, escape_frame
from .paths import host_hash
from .profile import BoardFiles

log = logging.getLogger(__name__)


class TryNext(Exception):
    """This strategy cannot write the file: the next one in the order does."""


def write_on_board(board: BoardFiles, path: str, data: bytes, progress: Progress | None) -> str:
    """Write `data` at `path` by the first strategy that can; the board's hash."""
    strategies = (write_in_one, write_raw, write_chunks)
    for strategy in strategies:
        try:
            return strategy(board, path, data, progress)
        except TryNext:
            continue
    raise AssertionError("write_chunks never passes a file on")  # pragma: no cover


def _done(progress: Progress | None, size: int) -> None:
    if progress is not None:
        progress(size, size)


def abort_write(board: BoardFiles, path: str) -> None:
    """Remove the temporary of a failed write (best effort: the link may be gone)."""
    with contextlib.suppress(IotKernelError):
        board.helpers.write_abort(path)


def write_in_one(board: BoardFiles, path: str, data: bytes, progress: Progress | None) -> str:
    """A file that fits in one chunk: one round trip (the board begins,
    writes, verifies and renames; on any failure it removes its temporary)."""
    if len(data) > board.chunk():
        raise TryNext
    want = host_hash(data, board.hash_kind())
    try:
        reply = board.helpers.write_one(path, want, base64.b64encode(data))
    except DeviceException as exc:
        if exc.exc_type != "MemoryError":
            raise write_failure(exc, path) from None
        board.shrink_chunk(exc, "write", path)  # or a FileError at the smallest chunk
        raise TryNext from None  # the board could not take it at once: in chunks
    except BaseException:
        abort_write(board, path)  # the link failed: the board may not have cleaned up
        raise
    if not isinstance(reply, list) or len(reply) != 2 or reply[0] != len(data):
        raise FileError(f"cannot write {path}: the board stored something else ({reply!r})")
    _done(progress, len(data))
    return str(reply[1])


def write_chunks(board: BoardFiles, path: str, data: bytes, progress: Progress | None) -> str:
    """Base64 chunks in source, one round trip each: the path every board has."""
    kind = str(board.ask("write", path, board.helpers.write_begin, path))
    sent = 0
    try:
        view = memoryview(data)
        while sent < len(data) or sent == 0:
            chunk = bytes(view[sent : sent + board.chunk()])
            try:
                written = board.helpers.write_put(path, sent, base64.b64encode(chunk))
            except DeviceException as exc:
                board.shrink_chunk(exc, "write", path)
                continue
            if written != len(chunk):
                raise FileError(
                    f"cannot write {path}: the board stored {written} of {len(chunk)} bytes"
                )
            sent += len(chunk)
            board.grow_chunk()
            if progress is not None:
                progress(sent, len(data))
            if not data:
                break
        try:
            return str(board.helpers.write_end(path, host_hash(data, kind)))
        except DeviceException as exc:
            raise write_failure(exc, path) from None
    except BaseException:
        abort_write(board, path)
        raise


def _packed(board: BoardFiles, pieces: list[bytes]) -> list[bytes] | None:
    """A file's `pieces` (a frame each), each deflated on its own (zlib
    format), or None when the board cannot inflate or they would not be
    smaller by a tenth (random or already compressed bytes never pay for
    it). Each frame is a stream of its own because the board's inflater
    then reads it from memory; fed from the frames as one stream, it took
    a Python call per compressed byte (a Pico inflated about 6 KB/s). The
    window fits the board's heap: 1 KB, 2 KB past 20 KB free, 4 KB past 64 KB."""
    if not board.profile.compress or not board.profile.inflate:
        return None
    free = board.helpers.free_memory()
    wbits = 12 if free >= 64 * 1024 else 11 if free >= 20 * 1024 else 10
    packed = []
    for piece in pieces:
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        packed.append(packer.compress(piece) + packer.flush())
    return packed if sum(map(len, packed)) < sum(map(len, pieces)) * 0.9 else None


def write_raw(board: BoardFiles, path: str, data: bytes, progress: Progress | None) -> str:
    """File bytes as raw frames on the board's stdin: about the link's byte
    rate, against 3/4 of it as base64 in source; deflated when that is
    smaller (source code: about 2.5 times less). A board's MemoryError
    retries without compression first (the inflater's window did not fit),
    then in smaller frames; a stalled transfer (a byte lost on the link, or
    a board far slower than its idle timeout) goes on to the chunked path,
    which waits for each reply."""
    if not board.raw_path():
        raise TryNext
    pack = True
    while True:
        chunk = board.chunk()
        pieces = [data[start : start + chunk] for start in range(0, len(data), chunk)]
        packed = _packed(board, pieces) if pack else None
        try:
            return _send_raw(board, path, data, packed or pieces, packed is not None, progress)
        except _RawFailed as failed:
            exc, stalled = failed.exc, failed.stalled
        if stalled:
            log.info("%s: raw transfer of %s stalled; sending it in chunks", board.device.url, path)
            raise TryNext
        if exc.exc_type == "MemoryError":
            if packed is None:
                board.shrink_chunk(exc, "write", path)  # or a FileError at the smallest
            pack = False
            continue
        if exc.exc_type == "ValueError" and "corrupted in transit" in exc.message:
            raise TransferVerificationError(
                f"cannot write {path}: a frame was corrupted on the link; the old file is intact"
            )
        raise write_failure(exc, path)


class _RawFailed(Exception):
    """The board's receiver raised (`exc`); `stalled`: the watchdog stopped it."""

    def __init__(self, exc: DeviceException, stalled: bool) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.stalled = stalled


def _send_raw(
    board: BoardFiles,
    path: str,
    data: bytes,
    pieces: list[bytes],
    packed: bool,
    progress: Progress | None,
) -> str:
    """One raw transfer of the whole file `data` as `pieces`, a frame each
    (its chunks, or them deflated when `packed`)."""
    device = board.device
    want = host_hash(data, board.hash_kind())
    pump = _frame_pump(board, pieces, len(data), progress)
    pump.start()
    try:
        # One call for the whole file: its deadline grows with the size (at
        # 1 KB/s, below any link's rate); the watchdog catches a stall early.
        reply = board.helpers.receive_raw(
            path,
            len(data),
            want,
            pump.frames,
            packed,
            timeout=device.deadline + len(data) / 1024,
            on_stdout=pump.feed,
        )
    except DeviceException as exc:
        pump.stop()  # before any retry: its watchdog must not interrupt the next call
        device.resync()  # what the board had not read yet must not reach its REPL
        raise _RawFailed(exc, pump.stalled) from None
    except BaseException:
        with contextlib.suppress(IotKernelError):
            device.resync()
        abort_write(board, path)
        raise
    finally:
        pump.stop()
    if pump.unexpected is not None:
        raise FileError(f"cannot write {path}: the board's receiver said {pump.unexpected!r}")
    stored, digest = replies.items(reply, f"write {path}", "a size and a hash", 2)
    if stored != len(data):
        raise FileError(f"cannot write {path}: the board stored {stored!r} bytes")
    _done(progress, len(data))
    return replies.text(digest, f"write {path}", "a content hash", limit=80)


def _frame_pump(
    board: BoardFiles, pieces: list[bytes], size: int, progress: Progress | None
) -> FramePump:
    """A pump for `pieces` (the file's chunks, or them deflated), a frame
    each; progress counts in the file's `size` bytes."""
    chunk = board.chunk()
    # The unix port reads its pty as fast as it comes: no UART to overrun.
    platform = board.device.identity().platform
    ahead = 8 * chunk if platform == "linux" else UART_PREFETCH

    def on_frames(done: int, total: int) -> None:  # in the file's bytes, not the link's
        if progress is not None:
            progress(done * size // max(total, 1), size)

    return FramePump(
        board.device,
        [escape_frame(piece) for piece in pieces],
        [len(piece) for piece in pieces],
        ahead,
        on_frames,
    )
