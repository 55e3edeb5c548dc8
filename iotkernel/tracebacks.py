"""A board's traceback, turned into a typed exception.

Owns reading what MicroPython prints on stderr when code raises: the last
line names the exception class and its message; `KeyboardInterrupt` and
`OSError` (with its `[Errno N]`, explained through `mp_errno`) get types
of their own. Pure: text in, exception out.
"""

from __future__ import annotations

import re

from .errors import DeviceException, DeviceKeyboardInterrupt, DeviceOSError

_LAST_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_ERRNO = re.compile(r"^\[Errno (-?\d+)\]\s*(.*)$|^(-?\d+)$")


def device_exception(stderr: bytes) -> DeviceException:
    """Turn a device traceback into a typed exception."""
    text = stderr.decode("utf-8", "replace")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    last = lines[-1] if lines else ""
    match = _LAST_LINE.match(last.strip())
    if not match:
        return DeviceException("Error", last.strip(), text)
    exc_type, message = match.group(1), (match.group(2) or "")
    if exc_type == "KeyboardInterrupt":
        return DeviceKeyboardInterrupt(exc_type, message, text)
    if exc_type == "OSError":
        m = _ERRNO.match(message.strip())
        device_errno = int(m.group(1) or m.group(3)) if m else None
        return DeviceOSError(device_errno, message, text)
    return DeviceException(exc_type, message, text)
