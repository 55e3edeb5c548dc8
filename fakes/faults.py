"""Fault injection: a transport wrapper that breaks bytes on purpose.

Owns seeded, reproducible faults on the byte stream in either direction:
drop a byte, flip a bit, duplicate a byte, delay a chunk, or cut the link.
Each chunk that passes is hit with probability `rate` (at most one fault per
chunk); `max_faults` bounds the total. Every fault is recorded in `faults`
so a failing seed can be replayed and explained.

`cut_transfer_after` cuts the link at a chosen point of a file transfer
instead: after that many chunk calls of the chunked path (`wput`, `wend`,
`wone`), or, with `cut_by_bytes`, after that many bytes of a raw transfer's
frames (those that follow its `rx(` call), so a test can cut at every point.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from iotkernel.errors import TransportClosedError
from iotkernel.transport import Transport

KINDS = ("drop", "flip", "duplicate", "delay", "cut")


@dataclass(frozen=True)
class Fault:
    """One injected fault: where (direction, byte offset in the chunk) and what."""

    direction: str  # "to_device" | "from_device"
    kind: str
    offset: int


class FaultyTransport:
    """Wraps a transport and injects faults into what it carries."""

    def __init__(
        self,
        inner: Transport,
        *,
        seed: int,
        rate: float = 0.05,
        kinds: tuple[str, ...] = KINDS,
        direction: str = "both",
        max_faults: int | None = None,
        max_delay: float = 0.05,
        cut_transfer_after: int | None = None,
        cut_by_bytes: bool = False,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.inner = inner
        self.url = inner.url
        self._rng = random.Random(seed)
        self._rate = rate
        self._kinds = kinds
        self._direction = direction
        self._max_faults = max_faults
        self._max_delay = max_delay
        self._cut = False
        self._transfer_left = cut_transfer_after
        self._cut_by_bytes = cut_by_bytes
        self._raw_frames_started = False
        self.faults: list[Fault] = []

    def _count_transfer(self, data: bytes) -> None:
        """Cut the link before `data` if it goes past the transfer cut point."""
        if self._transfer_left is None:
            return
        if self._cut_by_bytes:
            counts = len(data) if self._raw_frames_started else 0
            self._raw_frames_started = self._raw_frames_started or b"rx('" in data
        else:
            counts = int(b"wput" in data or b"wend" in data or b"wone" in data)
        if counts and self._transfer_left < counts:
            self._cut = True
            self.inner.close()
            raise TransportClosedError(f"{self.url}: link cut in a transfer (injected)")
        self._transfer_left -= counts

    def _maybe_fault(self, data: bytes, direction: str) -> bytes:
        if self._cut:
            raise TransportClosedError(f"{self.url}: link cut (injected)")
        if not data or self._direction not in ("both", direction):
            return data
        if self._max_faults is not None and len(self.faults) >= self._max_faults:
            return data
        if self._rng.random() >= self._rate:
            return data
        kind = self._rng.choice(self._kinds)
        offset = self._rng.randrange(len(data))
        self.faults.append(Fault(direction, kind, offset))
        if kind == "drop":
            return data[:offset] + data[offset + 1 :]
        if kind == "flip":
            flipped = data[offset] ^ (1 << self._rng.randrange(8))
            return data[:offset] + bytes([flipped]) + data[offset + 1 :]
        if kind == "duplicate":
            return data[: offset + 1] + data[offset:]
        if kind == "delay":
            time.sleep(self._rng.uniform(0, self._max_delay))
            return data
        # cut: what came before the cut point still passes, then the link is gone
        self._cut = True
        self.inner.close()
        return data[:offset]

    def write(self, data: bytes) -> None:
        if self._cut:
            raise TransportClosedError(f"{self.url}: link cut (injected)")
        self._count_transfer(data)
        data = self._maybe_fault(data, "to_device")
        if data:
            self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._cut:
            raise TransportClosedError(f"{self.url}: link cut (injected)")
        return self._maybe_fault(self.inner.read(max_bytes, timeout), "from_device")

    def close(self) -> None:
        self.inner.close()

    @property
    def binary_input(self) -> bool:
        return self.inner.binary_input

    # Capabilities (interrupt, restart, reopen, kill) are the wrapped link's:
    # `iotkernel.transport.interruptible()` and its siblings find them
    # through `inner`, since signals and restarts bypass the byte stream.
