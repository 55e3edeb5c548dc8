"""The raw data path's frames, host side against the board's own decoder
(`iotkernel/board/rawpath.py` is MicroPython that CPython runs too)."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from iotkernel.board import rawpath
from iotkernel.files import escape_frame


@given(st.binary(max_size=3000))
def test_a_frame_carries_any_bytes_and_no_repl_control_byte(data: bytes) -> None:
    frame = escape_frame(data)
    length, rest = int(frame[:4], 16), frame[4:]
    escaped, crc = rest[:length], int(rest[length:], 16)
    assert len(rest) == length + 8
    assert not any(byte in escaped for byte in b"\x01\x02\x03\x04\x05")
    assert rawpath.unesc(escaped) == data
    assert crc == zlib.crc32(data)


def test_random_data_grows_by_about_two_percent() -> None:
    import os

    data = os.urandom(200_000)
    assert len(escape_frame(data)) / len(data) < 1.03
