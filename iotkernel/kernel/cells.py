"""Cells: how a notebook cell is split into board code and host steps.

Owns the cell grammar (pure functions, no I/O):
* a first line `%%name args` makes the whole cell a cell magic;
* otherwise lines starting in column 0 with `%` (line magic) or `!` (shell)
  are host steps, run in order with the board code around them, except
  where they continue board code (inside a string, a bracket or after a
  backslash: found with Python's tokenizer, as IPython does);
* line endings are normalised first (CR, CRLF, LF are all one newline);
* each run of board code becomes one device chunk, padded with blank lines
  so the board's traceback line numbers are the cell's own;
* the trailing expression of the cell's last chunk is rewritten to print its
  repr after a marker byte, so the kernel can show it as `Out[n]`.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

from ..inband import new_secret

# The marks the kernel acts on in a cell's stdout (the trailing expression's
# value, an input() prompt: output.py) carry a secret made when the kernel
# starts and sent only inside the cell's own code: what the code prints (a
# payload it received) is never taken for one.
MARK_SECRET = new_secret()
MARK = "\x1d" + MARK_SECRET
# Marks the value of a cell's trailing expression in the board's stdout.
RESULT_MARK = MARK + "="


@dataclass(frozen=True)
class CellMagic:
    """The whole cell is a cell magic: `%%name args` + body."""

    name: str
    args: str
    body: str


@dataclass(frozen=True)
class HostLine:
    """A `%magic args` or `!shell` line, run on the host."""

    kind: str  # "magic" | "shell"
    text: str  # without the leading % or !
    line: int  # 1-based line in the cell


@dataclass(frozen=True)
class DeviceChunk:
    """Board code; `source` is padded so line N of it is line N of the cell."""

    source: str
    first_line: int
    last_line: int


Step = HostLine | DeviceChunk


def normalise_newlines(cell: str) -> str:
    """`\r\n` and lone `\r` as `\n`, a leading byte-order mark dropped.

    The board's lexer reads every CR, CRLF and LF as one newline (inside
    strings too), and so does Python's parser; the cell's lines are counted
    the same way here, so line numbers and the trailing-expression rewrite
    agree with both. (Form feeds and U+2028 are not line breaks to either.)"""
    return cell.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _continues(source: str) -> bool:
    """Whether board code `source` ends inside a multi-line string, an open
    bracket or a backslash continuation: a `%` or `!` line there is code."""
    try:
        for _ in tokenize.generate_tokens(io.StringIO(source).readline):
            pass
    except tokenize.TokenError as exc:
        return "multi-line" in str(exc) or "triple-quoted" in str(exc)
    except SyntaxError:  # a bad indent: not a continuation; the board reports it
        return False
    return False


def parse_cell(cell: str) -> CellMagic | list[Step]:
    """Split a cell into a cell magic, or host steps and device chunks in order."""
    cell = normalise_newlines(cell)
    stripped = cell.lstrip("\n")
    if stripped.startswith("%%"):
        first, _, body = stripped.partition("\n")
        name, _, args = first[2:].strip().partition(" ")
        return CellMagic(name=name, args=args.strip(), body=body)
    steps: list[Step] = []
    lines = cell.split("\n")
    chunk: list[int] = []

    def flush() -> None:
        if chunk and any(lines[i].strip() for i in chunk):
            padded = "\n" * chunk[0] + "\n".join(lines[chunk[0] : chunk[-1] + 1])
            steps.append(DeviceChunk(padded, chunk[0] + 1, chunk[-1] + 1))
        chunk.clear()

    def in_code(index: int) -> bool:
        """Line `index` continues the board code before it (IPython splits
        cells by tokens the same way)."""
        return bool(chunk) and _continues("\n".join(lines[chunk[0] : index]) + "\n")

    for index, line in enumerate(lines):
        if line.startswith(("%", "!")) and in_code(index):
            chunk.append(index)
        elif line.startswith("%") and not line.startswith("%%"):
            flush()
            steps.append(HostLine("magic", line[1:].strip(), index + 1))
        elif line.startswith("!"):
            flush()
            steps.append(HostLine("shell", line[1:].strip(), index + 1))
        else:
            chunk.append(index)
    flush()
    return steps


def show_trailing_expression(source: str) -> tuple[str, bool]:
    """Rewrite `source` so its trailing expression's repr is printed after
    RESULT_MARK (None prints nothing, like a REPL). Line numbers are kept.

    Returns (source, rewritten). Source the host cannot parse (MicroPython
    extensions, syntax errors) is returned unchanged: the board reports it.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source, False  # NULs, nesting too deep for the host parser...
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return source, False
    node = tree.body[-1]
    if node.end_lineno is None or node.end_col_offset is None or node.col_offset != 0:
        return source, False
    lines = source.split("\n")
    last = lines[node.end_lineno - 1].encode()
    rest = last[node.end_col_offset :].decode()
    if rest.lstrip().startswith(";"):
        return source, False  # `expr;` hides the value, as in IPython
    lines[node.end_lineno - 1] = last[: node.end_col_offset].decode() + "))" + rest
    first = lines[node.lineno - 1]
    lines[node.lineno - 1] = f"(lambda v: v is None or print({RESULT_MARK!r} + repr(v)))((" + first
    return "\n".join(lines), True
