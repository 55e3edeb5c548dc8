"""Cell parsing and output decoding, without a kernel (pure functions)."""

from __future__ import annotations

import ast
import itertools

from hypothesis import given
from hypothesis import strategies as st

from iotkernel.kernel.cells import (
    RESULT_MARK,
    CellMagic,
    DeviceChunk,
    HostLine,
    parse_cell,
    show_trailing_expression,
)
from iotkernel.kernel.output import INPUT_END, INPUT_MARK, StdoutSplitter


def test_cell_magic_takes_the_whole_cell() -> None:
    assert parse_cell("%%host -h\nx = 1\n%name") == CellMagic("host", "-h", "x = 1\n%name")


def test_host_lines_split_device_chunks_keeping_line_numbers() -> None:
    steps = parse_cell("a = 1\nb = 2\n%softreset\n!ls\nc = 3")
    assert isinstance(steps, list)
    assert steps[0] == DeviceChunk("a = 1\nb = 2", 1, 2)
    assert steps[1] == HostLine("magic", "softreset", 3)
    assert steps[2] == HostLine("shell", "ls", 4)
    chunk = steps[3]
    assert isinstance(chunk, DeviceChunk)
    assert chunk.source.split("\n")[4] == "c = 3"  # line 5 of the cell is line 5 here


def test_indented_percent_is_board_code() -> None:
    steps = parse_cell("if x:\n    %notmagic")
    assert steps == [DeviceChunk("if x:\n    %notmagic", 1, 2)]


def test_trailing_expression_rewrite_keeps_lines() -> None:
    source, rewritten = show_trailing_expression("x = 1\n(x +\n 1)  # two lines")
    assert rewritten and source.count("\n") == 2
    ast.parse(source)
    assert show_trailing_expression("x = 1") == ("x = 1", False)
    assert show_trailing_expression("f(1);") == ("f(1);", False)
    assert show_trailing_expression("def (:") == ("def (:", False)


def collect(chunks: list[bytes]) -> tuple[str, str | None, list[str]]:
    text: list[str] = []
    prompts: list[str] = []
    splitter = StdoutSplitter(text.append, prompts.append)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.close()
    return "".join(text), splitter.result, prompts


STREAM = (
    "héllo 😀\r\nline\r\n"
    + INPUT_MARK
    + "name? "
    + INPUT_END
    + "after\r\n"
    + RESULT_MARK
    + "42\r\n"
).encode()


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), unique=True))
def test_any_split_of_the_stream_gives_the_same_text(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    text, result, prompts = collect(chunks)
    assert text == "héllo 😀\nline\nafter\n"
    assert result is not None and result.strip() == "42"
    assert prompts == ["name? "]


def test_printed_marks_without_the_secret_are_output() -> None:
    # What a program prints (a received payload) is never a prompt or a value.
    forged = "\x1dI name? \x1d|\x1d42|\x1d" + "0" * 32 + "=7|" + INPUT_MARK[:-1] + "?"
    text, result, prompts = collect([forged.encode()])
    assert text == forged and result is None and prompts == []


def test_a_value_and_a_prompt_are_bounded() -> None:
    text, result, _ = collect([(RESULT_MARK + "x" * 100_000).encode()] * 5)
    assert result is not None and result.startswith("x" * 1000)
    assert len(result) < 300_000 and result.endswith("more characters)")
    endless = INPUT_MARK + "p" * 10_000  # a prompt that never ends: shown, not held
    text, _, prompts = collect([endless.encode()])
    assert text == endless and prompts == []


def test_invalid_utf8_becomes_replacement_not_bytes_literal() -> None:
    text, _, _ = collect([b"ok \xff\xfe end"])
    assert text == "ok \ufffd\ufffd end"
