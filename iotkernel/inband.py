"""Bounded readers for messages that travel inside a board's output.

Some services speak in-band: the board-side code of `%mount` prints its
requests into stdout, the board-test runner its results. Whatever a board
prints may also be data its program received (an MQTT payload, a sensor
line, a web page), so nothing found in output is trusted because of its
shape. This module owns the two checks every such channel makes:

* `LineScanner` finds candidate lines (a marker, then up to a newline) in a
  stream of output chunks, in linear time and bounded memory: a line longer
  than its limit is output, never held or parsed;
* `new_secret`, `secret_matches`: a line counts only if it carries the
  secret the host gave our own board-side code for this session (sent once,
  never printed by it), compared in constant time;
* `loads_bounded`: JSON whose nesting is checked before it is parsed (a
  3,000-deep request must not reach the parser's recursion).
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

# 128 random bits, as 32 hex digits: ASCII, so it crosses every link as is.
SECRET_BYTES = 16
SECRET_LENGTH = 2 * SECRET_BYTES


def new_secret() -> str:
    """A fresh secret for one session of a board-side service."""
    return secrets.token_hex(SECRET_BYTES)


def secret_matches(given: bytes, secret: str) -> bool:
    """Whether `given` is `secret` (constant time: no guessing by timing)."""
    return hmac.compare_digest(given, secret.encode())


class InbandError(ValueError):
    """An in-band message that breaks a bound (too deep, not JSON)."""


def nesting_depth(text: bytes, limit: int) -> int:
    """The deepest nesting of brackets in JSON `text`, outside strings;
    `InbandError` as soon as it passes `limit` (the scan stops there)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise InbandError(f"nested deeper than {limit}")
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def loads_bounded(text: bytes, *, max_depth: int) -> Any:
    """`text` parsed as JSON once its nesting is within `max_depth`;
    `InbandError` otherwise, or when it is not JSON."""
    nesting_depth(text, max_depth)
    try:
        return json.loads(text.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InbandError(f"not JSON: {exc}") from None


@dataclass(frozen=True)
class Segment:
    """A piece of output as the scanner found it: `line` is the text of a
    candidate line (marker and newline removed), None for plain output;
    `raw` the bytes as printed, shown as output if the line is refused."""

    raw: bytes
    line: bytes | None = None


class LineScanner:
    """Splits a stream of output chunks into plain output and candidate
    lines starting with `marker` and ending at a newline.

    At most `max_line` bytes (marker and newline included) are ever held: a
    longer line is output as it comes, and scanning for the marker goes on
    after it. Each byte is looked at a bounded number of times, whatever
    the board sends.
    """

    def __init__(self, marker: bytes, max_line: int) -> None:
        if not marker or max_line <= len(marker):
            raise ValueError("a marker and room for a line after it")
        self.marker = marker
        self.max_line = max_line
        self._held = bytearray()  # a line (or a marker's first bytes) on its way

    def feed(self, data: bytes) -> Iterator[Segment]:
        """The segments of `data`, after what earlier chunks left held."""
        position = 0
        while position < len(data):
            if not self._held:
                start = data.find(self.marker[:1], position)
                if start < 0:
                    yield Segment(data[position:])
                    return
                if start > position:
                    yield Segment(data[position:start])
                position = start
            position = yield from self._extend(data, position)

    def _extend(self, data: bytes, position: int) -> Generator[Segment, None, int]:
        """Add to the held line from `data[position:]`; the position after
        what was taken."""
        held = self._held
        if len(held) < len(self.marker):  # is it the marker at all?
            take = min(len(self.marker) - len(held), len(data) - position)
            held += data[position : position + take]
            position += take
            if not self.marker.startswith(held):
                # Not a marker: its first byte is output; the rest is
                # scanned again (fewer bytes than the marker's length).
                first, rest = bytes(held[:1]), bytes(held[1:])
                held.clear()
                yield Segment(first)
                yield from self.feed(rest)
                return position
            if len(held) < len(self.marker):
                return position  # the marker's rest is in the next chunk
        end = data.find(b"\n", position)
        room = self.max_line - len(held)
        if end < 0 or end - position >= room:
            if len(data) - position < room and end < 0:
                held += data[position:]
                return len(data)
            # Too long to be a message: output, the held part included.
            cut = position + room
            yield Segment(bytes(held) + data[position:cut])
            held.clear()
            return cut
        held += data[position : end + 1]
        raw = bytes(held)
        held.clear()
        yield Segment(raw, raw[len(self.marker) : -1].rstrip(b"\r"))
        return end + 1

    def flush(self) -> bytes:
        """What is held, as output (the program has ended: no more is coming)."""
        held = bytes(self._held)
        self._held.clear()
        return held
