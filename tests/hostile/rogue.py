"""A rogue board: a real board whose device-side helpers were replaced.

The board stays what it is (the fake, the unix port, bare-metal firmware in
QEMU); only the functions that answer the host's requests are swapped, in
the helpers' own namespace, for ones that answer with hostile values. The
replies stay well framed and CRC-checked, as a malicious `main.py` or a
compromised board would make them: what the host must survive is their
content.
"""

from __future__ import annotations

import re

from iotkernel.device import Device
from iotkernel.device.calls import HELPERS

# Each case: the hostile helper source, run in the helpers' namespace (so it
# can use their `send`, `put` and `MARK`).
IDENT_UID_LIST = "def ident():\n return {'uid': [1, 2], 'platform': 'rogue'}\n"
IDENT_HUGE_PLATFORM = "def ident():\n return {'uid': 'abcd', 'platform': 'p' * 300}\n"
IDENT_ESCAPES = (
    "def ident():\n return {'uid': 'abcd', 'platform': '\\x1b]0;pwned\\x07\\x1b[2Jrogue'}\n"
)
BYTES_TAG_NOT_TEXT = "def ident():\n return {'__iotk_bytes__': 5}\n"


def deep_reply(depth: int) -> str:
    """Every reply becomes an array nested `depth` deep."""
    # Sent in halves with a CRC over both: a 40 KB heap late in a session may
    # hold no free block for the whole reply as one string.
    return (
        "def put(v, req=0):\n"
        f" o, e = '[' * {depth}, ']' * {depth}\n"
        " c = crc_update(crc_update(0, o.encode()), e.encode())\n"
        " print(MARK, end='')\n"
        " print(o, end='')\n"
        " print(e, end='')\n"
        " print('\\x1f%08x%08x' % (c, req))\n"
    )


def listing(*rows: str) -> str:
    """`trees` (every listing) answers these rows, Python literals."""
    return "def trees(roots, hashes, times=True):\n return [" + ", ".join(rows) + "]\n"


def lying_file(size: int, chunk: str) -> str:
    """`stat` says every file holds `size` bytes; a read's chunk is `chunk`
    (an expression of `n`, the bytes asked for), as a base64 reply (`rchunk`)
    or as raw bytes with a matching length and CRC (`tx`)."""
    return (
        f"def stat(p):\n return [False, {size}, 0]\n"
        f"def rchunk(p, offset, n):\n return {chunk}\n"
        "def tx(p, offset, n):\n"
        f" d = {chunk}\n"
        " __import__('sys').stdout.buffer.write(d)\n"
        " return [len(d), crc(d)]\n"
    )


def make_rogue(device: Device, source: str) -> None:
    """Install hostile helpers on the board behind `device`: the real
    helpers first (the file group only where the swap replaces or calls one
    of its functions: 1.5 s of an emulated Pico), then the swap."""
    names = set(re.findall(r"\w+", source))
    device.helpers.ensure_installed(files=bool(names & HELPERS.files.names))
    device.exec("exec(" + repr(source) + ", __import__('sys').modules['__iotk'])")


# A listing that never ends (a generator streaming rows for ever), and one
# whose rows are 9,000 characters of junk each (a 40 KB heap takes that).
ENDLESS_LISTING = (
    "def trees(roots, hashes, times=True):\n"
    " i = 0\n"
    " while True:\n"
    "  i += 1\n"
    "  yield ['/lib/f%d.py' % i, False, 1, 0, None]\n"
)
JUNK_ROWS = (
    "def trees(roots, hashes, times=True):\n"
    " while True:\n"
    "  yield ['/lib/' + 'j' * 9000, False, 1, 0, None]\n"
)
