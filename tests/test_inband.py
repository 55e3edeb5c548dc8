"""The bounded readers of in-band messages (iotkernel.inband), and the mount
server's answer to lines with and without its secret."""

from __future__ import annotations

import errno
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotkernel.inband import (
    InbandError,
    LineScanner,
    loads_bounded,
    nesting_depth,
    new_secret,
    secret_matches,
)
from iotkernel.mount import MountServer

MARKER = b"\x1eT"
MAX_LINE = 40


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def expected_lines(data: bytes) -> list[bytes]:
    """The lines a scanner must report: marker-led, newline-ended, short
    enough, found scanning left to right (an over-long one is skipped at
    its limit, and scanning goes on there)."""
    found = []
    i = 0
    while (start := data.find(MARKER[:1], i)) >= 0:
        if not data.startswith(MARKER, start):
            i = start + 1
            continue
        end = data.find(b"\n", start)
        if end >= 0 and end + 1 - start <= MAX_LINE:
            found.append(data[start + len(MARKER) : end].rstrip(b"\r"))
            i = end + 1
        elif end < 0 and len(data) - start < MAX_LINE:
            break  # held at the end: flushed as output
        else:
            i = start + MAX_LINE
    return found


@given(
    st.lists(
        st.sampled_from([b"\x1e", b"T", b"\x1eT", b"\n", b"\r", b"ab", b"{}", b" " * 30]),
        max_size=60,
    ),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_scanner_keeps_every_byte_and_finds_the_lines(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    scanner = LineScanner(MARKER, MAX_LINE)
    raw = bytearray()
    lines = []
    for chunk in chunked(data, cuts):
        for segment in scanner.feed(chunk):
            raw += segment.raw
            assert len(scanner._held) <= MAX_LINE
            if segment.line is not None:
                assert segment.raw.startswith(MARKER) and segment.raw.endswith(b"\n")
                assert len(segment.raw) <= MAX_LINE
                lines.append(segment.line)
    raw += scanner.flush()
    assert bytes(raw) == data
    assert lines == expected_lines(data)


def test_an_endless_line_is_output_as_it_comes() -> None:
    scanner = LineScanner(b"\x18", 4096)
    shown = 0
    for segment in scanner.feed(b"\x18[" + b" " * 10_000_000):
        assert segment.line is None
        shown += len(segment.raw)
    assert shown > 10_000_000 - 4096
    assert len(scanner.flush()) < 4096


def test_nesting_is_checked_before_parsing() -> None:
    assert nesting_depth(b'["[[[", {"a": [1]}]', 5) == 3
    with pytest.raises(InbandError):
        loads_bounded(b"[" * 3000 + b"]" * 3000, max_depth=8)
    with pytest.raises(InbandError):
        loads_bounded(b"[1, 2", max_depth=8)
    assert loads_bounded(b'["st", "/a"]', max_depth=1) == ["st", "/a"]


def test_secrets_are_fresh_and_compared_whole() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and len(first) == 32
    assert secret_matches(first.encode(), first)
    assert not secret_matches(first[:-1].encode(), first)
    assert not secret_matches(b"", first)


def test_the_mount_answers_only_lines_with_its_secret(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    server = MountServer(tmp_path)
    request = json.dumps(["st", "/a.txt"]).encode()
    assert server.answer(request) is None  # not attached: no secret, nothing is a request
    server._secret = secret = new_secret()
    assert server.answer(b"0" * 32 + request) is None
    answer = server.answer(secret.encode() + request)
    assert answer is not None and answer.startswith(b"00")
    deep = secret.encode() + b'["st", ' + b"[" * 3000 + b"]" * 3000 + b"]"
    assert server.answer(deep) == b"%02x" % errno.EINVAL + b"0000" + b"00000000"
    server.close()
    assert server.answer(secret.encode() + request) is None  # forgotten on close
