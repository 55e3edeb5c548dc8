"""What a transport is: the protocol and its optional capabilities.

A transport moves bytes to and from one board: `write`, `read`, `close`, and
`binary_input` (any byte reaches the board as sent: a serial line, a pty; not
WebREPL's text frames). Optional capabilities are protocol classes of their
own, one per capability (as labgrid has): `Interruptible` (SIGINT to a
process we own), `Restartable` (a process started anew), `Reopenable` (the
link opened again), `ResetLine` (DTR/RTS) and `Killable` (tests' "unplug").
Find them with `interruptible(transport)` and its siblings: they look
through wrappers (a fault injector's `inner`), since signals and restarts
bypass the byte stream. Transports know no protocol byte.
Turning a URL into a transport is `urls.py`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A bidirectional byte link to one board."""

    url: str

    def write(self, data: bytes) -> None:
        """Write all of `data`; raise `TransportError` (closed, or stuck past the write timeout)."""

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Return 1..max_bytes bytes, or b"" if none arrived within `timeout` seconds.

        Raises `TransportClosedError` when the link is gone.
        """

    def close(self) -> None:
        """Release the link at once (idempotent)."""

    @property
    def binary_input(self) -> bool:
        """Whether any byte reaches the board as sent (raw transfers need it)."""


@runtime_checkable
class Interruptible(Protocol):
    """A link whose board process takes SIGINT as Ctrl-C (the unix port)."""

    def interrupt(self) -> bool:
        """Interrupt the running code; whether the signal was sent."""


@runtime_checkable
class Restartable(Protocol):
    """A link to a process that can be started anew (a soft reset there)."""

    def restart(self) -> None:
        """Stop the board's process and start a fresh one on the same files."""


@runtime_checkable
class Reopenable(Protocol):
    """A link that can be opened again after it dropped."""

    def reopen(self, timeout: float = 10.0) -> None:
        """Open the link again, waiting up to `timeout` s for it to come back."""


@runtime_checkable
class ResetLine(Protocol):
    """A serial port that may drive a board's reset through DTR/RTS."""

    @property
    def has_reset_line(self) -> bool:
        """Whether this port has modem lines at all (a pty has none)."""

    def hard_reset(self) -> None:
        """Pulse the reset line."""


@runtime_checkable
class Killable(Protocol):
    """A link whose board can be made to vanish (tests of an unplug)."""

    def kill(self) -> None:
        """End the board as if unplugged."""


def _links(transport: object) -> Iterator[object]:
    """The transport, then what each wrapper (`inner`) wraps."""
    link: object | None = transport
    while link is not None:
        yield link
        link = getattr(link, "inner", None)


def interruptible(transport: object) -> Interruptible | None:
    """The link that takes SIGINT for this transport, if any."""
    return next((link for link in _links(transport) if isinstance(link, Interruptible)), None)


def restartable(transport: object) -> Restartable | None:
    """The link that can restart this transport's board process, if any."""
    return next((link for link in _links(transport) if isinstance(link, Restartable)), None)


def reopenable(transport: object) -> Reopenable | None:
    """The link that can be opened again, if any."""
    return next((link for link in _links(transport) if isinstance(link, Reopenable)), None)


def reset_line(transport: object) -> ResetLine | None:
    """The port whose DTR/RTS can reset the board, if it has those lines."""
    found = next((link for link in _links(transport) if isinstance(link, ResetLine)), None)
    return found if found is not None and found.has_reset_line else None


def killable(transport: object) -> Killable | None:
    """The link whose board can be made to vanish, if any."""
    return next((link for link in _links(transport) if isinstance(link, Killable)), None)
