"""Fault injection: a transport wrapper that breaks bytes on purpose.

Owns seeded, reproducible faults on the byte stream in either direction:
drop a byte, flip a bit, duplicate a byte, delay a chunk, or cut the link.
Each chunk that passes is hit with probability `rate` (at most one fault per
chunk); `max_faults` bounds the total. Every fault is recorded in `faults`
so a failing seed can be replayed and explained.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

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
        self.faults: list[Fault] = []

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
        data = self._maybe_fault(data, "to_device")
        if data:
            self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._cut:
            raise TransportClosedError(f"{self.url}: link cut (injected)")
        return self._maybe_fault(self.inner.read(max_bytes, timeout), "from_device")

    def close(self) -> None:
        self.inner.close()

    def supports(self, capability: str) -> bool:
        # Signals and restarts bypass the byte stream; keep them.
        return self.inner.supports(capability)

    def __getattr__(self, name: str) -> Any:
        # Capabilities (interrupt, restart, kill, reopen) of the wrapped transport.
        return getattr(self.inner, name)
