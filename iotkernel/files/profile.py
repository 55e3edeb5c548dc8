"""What the file layer knows of one board for a session: its transfer profile.

Owns the chunk policy (how many bytes go per round trip) and the board's
file capabilities (the raw data path each way, inflating, its content
hash), learned once and kept for the `FileService` of a board session, never
on `Device`. `BoardFiles` joins a profile to its device for the pieces of
the file layer (reads, write strategies, the drive fallback).

The chunk policy: chunks start at what the board's free heap suggests and
double after each chunk that went through, up to the service's `max_chunk`
(ports whose heap grows on demand, as the unix and ESP32 ports, report
little free heap); a board-side MemoryError halves them and stops the
growth for the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..device import Device
from ..errors import DeviceException
from .errors import explain

DEFAULT_CHUNK = 4096  # raw bytes per round trip at most: ~5.5 KB of base64 on the wire
# A chunk costs the board about this many times its size in heap at once
# (the base64 literal as the compiler grows it, the bytes object, the decoded
# data): chunks start at free heap / this, and halve on a MemoryError.
HEAP_PER_CHUNK_BYTE = 12
MIN_CHUNK = 128


@dataclass
class TransferProfile:
    """One board's transfer settings and what was learned of it."""

    max_chunk: int = DEFAULT_CHUNK
    # Writes larger than a chunk as raw bytes on stdin where the board can
    # (False: always base64 chunks in source, the path every board has).
    raw_allowed: bool = True
    # Raw writes of compressible files go deflated where the board inflates.
    compress: bool = True
    chunk: int | None = None  # bytes per round trip now; None until sized
    capped: bool = False  # a MemoryError stopped the growth
    raw_in: bool | None = None  # raw writes; None until asked
    raw_out: bool = False  # raw reads
    inflate: bool = False  # the board inflates deflated frames
    hash_kind: str | None = None  # 'sha256', or 'crc32' without hashlib; None until asked


class BoardFiles:
    """A board's device joined to its transfer profile."""

    def __init__(self, device: Device, profile: TransferProfile) -> None:
        self.device = device
        self.helpers = device.helpers
        self.profile = profile

    def chunk(self) -> int:
        """Bytes per round trip now."""
        profile = self.profile
        if profile.chunk is None:
            fits = self.helpers.free_memory() // HEAP_PER_CHUNK_BYTE // 128 * 128
            profile.chunk = max(MIN_CHUNK * 4, fits)
        return max(MIN_CHUNK, min(profile.max_chunk, profile.chunk))

    def grow_chunk(self) -> None:
        profile = self.profile
        if not profile.capped and (profile.chunk or 0) < profile.max_chunk:
            profile.chunk = min(profile.max_chunk, (profile.chunk or MIN_CHUNK) * 2)

    def shrink_chunk(self, exc: DeviceException, action: str, path: str) -> None:
        """After a board-side MemoryError: halve the chunk, or give up."""
        current = self.chunk()
        if exc.exc_type != "MemoryError" or current <= MIN_CHUNK:
            raise explain(exc, action, path) from None
        self.profile.chunk = current // 2
        self.profile.capped = True

    def hash_kind(self) -> str:
        """The board's content hash, asked once."""
        if self.profile.hash_kind is None:
            self.profile.hash_kind = str(self.ask("hash", "/", self.helpers.hash_kind))
        return self.profile.hash_kind

    def raw_path(self) -> bool:
        """Whether writes take the raw data path on this board (asked once):
        a link that carries any byte (not WebREPL's text frames) and a board
        whose code can read its stdin as bytes."""
        profile = self.profile
        if not profile.raw_allowed or not self.device.transport.binary_input:
            return False
        if profile.raw_in is None:
            answer = self.ask("ask about", "raw transfers", self.helpers.raw_capabilities)
            raw, inflate, out = (
                answer if isinstance(answer, list) and len(answer) == 3 else (0,) * 3
            )
            profile.raw_in, profile.inflate, profile.raw_out = (
                raw is True,
                inflate is True,
                out is True,
            )
        return profile.raw_in

    def raw_downloads(self) -> bool:
        """Whether reads take the raw data path: bytes on the board's stdout
        (a few escaped), not base64 (4/3 of them) in its JSON reply."""
        return self.raw_path() and self.profile.raw_out

    def ask(self, action: str, path: str, call: Any, *arguments: Any) -> Any:
        """A helper's reply, its failure a `FileError` about `action` on `path`."""
        try:
            return call(*arguments)
        except DeviceException as exc:
            raise explain(exc, action, path) from None
