"""Cells of any shape (line endings, magics inside code, odd characters) and
output shown as the board printed it, without a kernel (pure functions);
then arbitrary cell text through a running kernel on fake://."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotkernel.kernel.cells import (
    DeviceChunk,
    HostLine,
    parse_cell,
    show_trailing_expression,
)
from iotkernel.kernel.output import ESCAPE_SHOWN, StdoutSplitter, board_text

from .test_kernel import Kernel


def collect(chunks: list[bytes]) -> str:
    text: list[str] = []
    splitter = StdoutSplitter(text.append)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.close()
    return "".join(text)


def test_what_the_board_printed_is_kept_colours_included() -> None:
    printed = "\x1b[31mred\x1b[0m \x1b[1;32;4mgreen\x1b[m a\x00b back\bspace 50%\rdone"
    assert board_text(printed) == printed


def test_escape_sequences_other_than_colours_are_shown_not_obeyed() -> None:
    shown = board_text("\x1b[2Jclear \x1b]52;c;cGF5bG9hZA==\x07clip \x1bcreset")
    assert "\x1b" not in shown
    assert shown == (
        f"{ESCAPE_SHOWN}[2Jclear {ESCAPE_SHOWN}]52;c;cGF5bG9hZA==\x07clip {ESCAPE_SHOWN}creset"
    )


COLOURED = b"\x1b[38;5;208morange\x1b[0m\r\n\x1b[2K!"


@given(st.lists(st.integers(min_value=1, max_value=len(COLOURED) - 1), unique=True))
def test_a_colour_split_across_reads_stays_a_colour(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(COLOURED)]
    text = collect([COLOURED[a:b] for a, b in itertools.pairwise(points)])
    assert text == f"\x1b[38;5;208morange\x1b[0m\n{ESCAPE_SHOWN}[2K!"


def test_line_endings_of_any_kind_count_as_one_line() -> None:
    steps = parse_cell("p=1\rq=2\r\nq")
    assert isinstance(steps, list) and len(steps) == 1
    chunk = steps[0]
    assert isinstance(chunk, DeviceChunk) and chunk.source == "p=1\nq=2\nq"
    source, rewritten = show_trailing_expression(chunk.source)
    assert rewritten and source.split("\n")[2].endswith("((q))")
    assert parse_cell("\ufeffx = 1") == [DeviceChunk("x = 1", 1, 1)]


CODE_WITH_PERCENT_LINES = {
    "triple-double-quotes": 's = """\n%d items\n!not a shell\n"""',
    "triple-single-quotes": "s = '''\n%magic\n'''",
    "modulo-in-brackets": "x = (10\n% 3)",
    "not-in-a-list": "values = [1,\n!True]",
    "backslash-continuation": "total = 1 + \\\n%2",
    "call-arguments": "f(a,\n  b,\n%c)",
}


@pytest.mark.parametrize("name", list(CODE_WITH_PERCENT_LINES))
def test_percent_and_bang_lines_inside_code_are_code(name: str) -> None:
    cell = CODE_WITH_PERCENT_LINES[name]
    assert parse_cell(cell) == [DeviceChunk(cell, 1, cell.count("\n") + 1)]


def test_a_magic_after_a_closed_string_is_a_magic() -> None:
    steps = parse_cell('s = """\nx\n"""\n%lsmagic\nprint(s)')
    assert isinstance(steps, list)
    assert [type(s).__name__ for s in steps] == ["DeviceChunk", "HostLine", "DeviceChunk"]
    assert steps[1] == HostLine("magic", "lsmagic", 4)


ODD_TEXT = st.text(
    alphabet=st.sampled_from(list("ab1 =()[]{}'\":;%!#\\\t\n\r\f\x00\ufeff\u2028xé+-")),
    max_size=80,
)


@given(ODD_TEXT)
def test_any_cell_text_parses_and_keeps_its_lines(cell: str) -> None:
    steps = parse_cell(cell)
    if isinstance(steps, list):
        for step in steps:
            if isinstance(step, DeviceChunk):
                source, _ = show_trailing_expression(step.source)
                assert source.count("\n") == step.source.count("\n")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert k.run("%connect fake://cell-shapes").status == "ok"
        yield k
    finally:
        k.stop()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ODD_TEXT)
def test_any_cell_text_gets_a_reply_from_the_kernel(kernel: Kernel, cell: str) -> None:
    run = kernel.run(cell.replace("%", "%x").replace("!", "#"), timeout=30)
    assert run.status in ("ok", "error")
    if run.status == "error":
        assert len(run.of_type("error")) == 1


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("p=1\rq=2\nq", "2"),
        ("p=1\r\nq=2\r\nq", "2"),
        ("s = '''a\n%not a magic\n'''\ns", "'a\\n%not a magic\\n'"),
        ("x = (10\n% 3)\nx", "1"),
    ],
    ids=["cr", "crlf", "percent-in-a-string", "modulo"],
)
def test_the_value_shown_is_the_right_one(kernel: Kernel, cell: str, value: str) -> None:
    run = kernel.run(cell)
    assert run.status == "ok", run.reply
    results = run.of_type("execute_result")
    assert [r["data"]["text/plain"] for r in results] == [value]


def test_colours_and_nuls_reach_the_notebook(kernel: Kernel) -> None:
    run = kernel.run("print('\\x1b[32mok\\x1b[0m', 'a\\x00b')")
    assert run.stream() == "\x1b[32mok\x1b[0m a\x00b\n"


STATEMENTS = st.sampled_from(
    [
        "x = 1",
        "x = x + 1 if 'x' in dir() else 0",
        "s = '''\n%d items\n!not shell\n'''",
        "t = (2\n% 3)",
        "print('a\\tb')",
        "print(len('é\\x00'))",
        "y = [1,\n  2]",
        "# a comment ( [ {",
        "",
        "\f",
        "z = 'a' \\\n  'b'",
    ]
)
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(STATEMENTS, NEWLINES), min_size=1, max_size=6))
def test_a_valid_cell_with_any_line_endings_runs_as_python_runs_it(
    kernel: Kernel, parts: list[tuple[str, str]]
) -> None:
    import contextlib
    import io

    cell = "".join(statement.replace("\n", newline) + newline for statement, newline in parts)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(cell.replace("\r\n", "\n").replace("\r", "\n"), "<cell>", "exec"), {})
    run = kernel.run("%softreset -q\n" + cell, timeout=30)
    assert run.status == "ok", (cell, run.reply)
    assert run.stream() == printed.getvalue(), cell
