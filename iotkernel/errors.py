"""The exception tree of IoT Kernel.

Owns the root (`IotKernelError`), so a caller can catch everything of ours,
and the errors shared across layers (transports, protocol, timeouts, device
exceptions, usage), a small tree by *kind* of failure, so callers branch on
types, never on message text. Errors of one service live beside it, below
the same root: `FileError` and its kin in `fs`, `ConfigError` in `config`,
`SecretsError` in `secrets`, `NoSuchDeviceError` in `registry`,
`NoDeviceError` in `kernel.session`, `ShellError`, `StoreError` and
`PackageError` in their magics, `MalformedRequestError` in `kernel.requests`.
Third-party exceptions are translated where they happen (`raise ... from exc`).

Imports only `mp_errno` (standard library only): every layer may import it.
"""

from __future__ import annotations

from . import mp_errno


class IotKernelError(Exception):
    """Root of every error raised by IoT Kernel."""


# --- transports -------------------------------------------------------------


class TransportError(IotKernelError):
    """Moving bytes to or from a board failed."""


class TransportClosedError(TransportError):
    """The link is gone: the process exited, the port vanished, the socket closed."""


class PortBusyError(TransportError):
    """Another program holds the port open."""

    def __init__(self, port: str) -> None:
        super().__init__(f"port {port} is in use by another program")
        self.port = port


class AuthenticationError(TransportError):
    """The board refused our credentials (e.g. a wrong WebREPL password)."""


class UnexpectedBoardError(IotKernelError):
    """The board that answered at a URL is not the one expected (its uid
    differs): disconnected before any cell ran."""


class UnsupportedUrlError(TransportError, ValueError):
    """A device URL whose scheme no transport handles, or that is malformed."""


# --- protocol ---------------------------------------------------------------


class ProtocolError(IotKernelError):
    """The REPL conversation went wrong."""


class ProtocolUsageError(ProtocolError):
    """The host asked the protocol engine for something its state does not allow."""


class DeviceProtocolError(ProtocolError):
    """The device sent bytes the protocol does not allow in the current state.

    Carries the engine state, a description of what was awaited, and the last
    bytes seen, so a report says what was expected and what came instead.
    """

    def __init__(self, state: str, expected: str, received: bytes) -> None:
        shown = received[-80:]
        super().__init__(
            f"unexpected reply from device in state {state}: expected {expected}, got {shown!r}"
        )
        self.state = state
        self.expected = expected
        self.received = received


class ReplyTooLargeError(IotKernelError):
    """A board's reply passed a bound the host keeps whatever a board sends
    (a listing's entries, a reply's bytes): the operation stops there, and
    the link is resynchronised. `bound` names the bound."""

    def __init__(self, what: str, bound: str) -> None:
        super().__init__(f"{what}: the board sent more than {bound} (a bound the host keeps)")
        self.bound = bound


class HelperReplyError(ProtocolError):
    """A board-side helper's reply failed its checks: no reply mark, a CRC-32
    that does not match (corrupted on the way), the echo of another request
    (a stale reply), JSON that does not parse, rows lost or added.

    `part` names what failed ("reply", "rows", "helpers"), `expected` what
    was awaited, `received` the last bytes seen.
    """

    def __init__(self, part: str, expected: str, received: bytes) -> None:
        super().__init__(
            f"bad helper {part} from the board: expected {expected}, got {received[-80:]!r}"
        )
        self.part = part
        self.expected = expected
        self.received = received


class MalformedReplyError(ProtocolError):
    """A well-framed reply from the board whose value is not what the
    operation allows (a size that is not a number, a name of 5000
    characters, a path with `..`): a board's data is checked before use."""

    def __init__(self, operation: str, expected: str, value: object) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(
            f"malformed reply from the board to {operation}: expected {expected}, got {shown}"
        )
        self.operation = operation
        self.expected = expected


# --- timeouts ---------------------------------------------------------------


class DeviceTimeoutError(IotKernelError, TimeoutError):
    """The device did not answer in time (idle timeout or overall deadline)."""

    def __init__(self, message: str, *, state: str = "", received: bytes = b"") -> None:
        if received:
            message = f"{message} (last bytes received: {received[-80:]!r})"
        super().__init__(message)
        self.state = state
        self.received = received


class DeviceRebootedError(IotKernelError):
    """The board rebooted in the middle of an operation (a fatal error, such as
    memory exhausted outside a handler, or a reset); the operation did not
    finish, and the next one reconnects."""


class NoResetMeansError(IotKernelError):
    """A board must be reset, and nothing on the host can do it (no hard-reset
    command, no reset line): a person must press its reset button."""


class DeviceUnresponsiveError(DeviceTimeoutError):
    """The board's code did not stop after Ctrl-C: the firmware ignores Ctrl-C
    while code runs (some ports do), or it hangs. Only a reset helps."""


# --- device-side exceptions ---------------------------------------------------


class DeviceException(IotKernelError):
    """Code on the device raised an exception.

    `exc_type` is the device exception's class name (e.g. ``"ValueError"``),
    `message` its text, `traceback` the full text the device printed.
    """

    def __init__(self, exc_type: str, message: str, traceback: str) -> None:
        super().__init__(f"{exc_type}: {message}" if message else exc_type)
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback


class DeviceOSError(DeviceException, OSError):
    """An `OSError` on the device.

    `device_errno` is the number the board printed; `errno` the host's number
    for the same error (`errno.ENOENT`), found through `mp_errno`, so checks
    read as they do for host errors (the board's number where the host has
    no such error); `strerror` its name.
    """

    def __init__(self, device_errno: int | None, message: str, traceback: str) -> None:
        DeviceException.__init__(self, "OSError", message, traceback)
        self.device_errno = device_errno
        if device_errno is None:
            self.errno = None
            self.strerror = message
        else:
            self.errno = mp_errno.host_errno(device_errno) or device_errno
            self.strerror = mp_errno.name_of(device_errno) or message


class DeviceKeyboardInterrupt(DeviceException):
    """The code on the device was interrupted (Ctrl-C / SIGINT)."""


# --- user input -------------------------------------------------------------


class UsageError(IotKernelError, ValueError):
    """A magic or API call was used wrongly; the message says how to use it."""


class HostCommandError(IotKernelError):
    """A command IoT Kernel ran on the host for a board (its `hard-reset`
    command) was missing, failed or did not finish in time."""


class ResetFailedError(IotKernelError):
    """A reset the board was asked for did not happen (`machine.reset()`
    raised): the board runs on, its state as it was."""
