"""MicroPython's error numbers, and what they mean to a person.

Owns the one table from the numbers a board puts in `OSError: [Errno N]`
(`py/mperrno.h`, which follows Linux's numbering) to the host's `errno`
names, and the plain-language reasons shown for the common ones. A number
is looked up by name on the host (`errno.ENOENT`), never compared with a
literal, so code stays right on hosts whose numbers differ.

littlefs passes its own codes through as negated errno values; the one it
adds to `mperrno.h`'s list is 39 (ENOTEMPTY, from `rmdir`).

Imports only the standard library.
"""

from __future__ import annotations

import errno

# py/mperrno.h, plus littlefs's ENOTEMPTY.
NAMES: dict[int, str] = {
    1: "EPERM",
    2: "ENOENT",
    3: "ESRCH",
    4: "EINTR",
    5: "EIO",
    6: "ENXIO",
    7: "E2BIG",
    8: "ENOEXEC",
    9: "EBADF",
    10: "ECHILD",
    11: "EAGAIN",
    12: "ENOMEM",
    13: "EACCES",
    14: "EFAULT",
    15: "ENOTBLK",
    16: "EBUSY",
    17: "EEXIST",
    18: "EXDEV",
    19: "ENODEV",
    20: "ENOTDIR",
    21: "EISDIR",
    22: "EINVAL",
    23: "ENFILE",
    24: "EMFILE",
    25: "ENOTTY",
    26: "ETXTBSY",
    27: "EFBIG",
    28: "ENOSPC",
    29: "ESPIPE",
    30: "EROFS",
    31: "EMLINK",
    32: "EPIPE",
    33: "EDOM",
    34: "ERANGE",
    39: "ENOTEMPTY",
    95: "EOPNOTSUPP",
    97: "EAFNOSUPPORT",
    98: "EADDRINUSE",
    103: "ECONNABORTED",
    104: "ECONNRESET",
    105: "ENOBUFS",
    106: "EISCONN",
    107: "ENOTCONN",
    110: "ETIMEDOUT",
    111: "ECONNREFUSED",
    113: "EHOSTUNREACH",
    114: "EALREADY",
    115: "EINPROGRESS",
    125: "ECANCELED",
}

# What a file operation's failure means, said for a person.
REASONS: dict[str, str] = {
    "ENOENT": "no such file or directory",
    "EIO": "input/output error",
    "EACCES": "permission denied",
    "EEXIST": "it already exists",
    "ENOTDIR": "a path component is not a directory",
    "EISDIR": "it is a directory",
    "EINVAL": "invalid argument",
    "ENOSPC": "the device is full",
    "EROFS": "the filesystem is read-only (is it mounted as USB storage?)",
    "ENOTEMPTY": "the directory is not empty",
    "ENOMEM": "the board ran out of memory",
}


def name_of(device_errno: int) -> str | None:
    """The symbolic name (`"ENOENT"`) of a board's error number, if known."""
    return NAMES.get(device_errno)


def host_errno(device_errno: int) -> int | None:
    """The host's number for a board's error number (None when the host has
    no such error, or the number is not MicroPython's)."""
    name = NAMES.get(device_errno)
    return None if name is None else getattr(errno, name, None)


def reason(device_errno: int, message: str) -> str:
    """A plain-language reason for a board's error number."""
    name = NAMES.get(device_errno)
    if name in REASONS:
        return REASONS[name]
    if name is not None:
        return name if message in ("", name) else f"{name} ({message})"
    return f"error {device_errno} ({message})"
