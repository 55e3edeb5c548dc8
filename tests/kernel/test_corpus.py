"""What the board printed, exactly: the scripts of corpus/ (MicroPython
test-corpus style, written for this project) run as cells through the
kernel on `sim`, and through a bare raw REPL on a fresh unix-port process
driven by pexpect here, with nothing of IoT Kernel in between. Their stdout
and the type of the exception that ended them (if any) must be identical.

Only line endings are normalised on the bare side (the board ends lines
with `\\r\\n`, the pty adds a `\\r`, and the kernel shows `\\r\\n` as `\\n`).
The scripts print no escape sequence other than colours: the others are
shown neutralised on purpose (docs/cells-and-output.md).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from ..backends import require_unix_port
from .test_kernel import Kernel

CORPUS = Path(__file__).parent / "corpus"
SCRIPTS = sorted(CORPUS.glob("*.py"))
_LAST_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def on_a_bare_raw_repl(source: bytes) -> tuple[str, str | None]:
    """(stdout, exception type or None) of `source` run by a fresh unix port."""
    child = pexpect.spawn(sys.executable, ["-m", "micropython_unix"], echo=False, timeout=30)
    try:
        child.expect_exact(b">>> ")
        child.send(b"\x01")
        child.expect(rb"raw REPL; CTRL-B to exit\r+\n>")
        child.send(source + b"\x04")
        child.expect_exact(b"OK")
        child.expect_exact(b"\x04")
        out = bytes(child.before)
        child.expect_exact(b"\x04")
        err = bytes(child.before).decode("utf-8", "replace").strip()
        child.expect_exact(b">")
    finally:
        child.close(force=True)
    exception = None
    if err:
        found = _LAST_LINE.match(err.splitlines()[-1].strip())
        exception = found.group(1) if found else err
    # The board ends lines with \r\n, and the pty's ONLCR adds a \r of its own.
    text = out.decode("utf-8", "replace").replace("\r\r\n", "\n").replace("\r\n", "\n")
    return text, exception


@pytest.fixture(scope="module")
def sim_kernel() -> Iterator[Kernel]:
    require_unix_port()
    k = Kernel()
    try:
        assert k.run("%connect sim", timeout=60).status == "ok"
        yield k
    finally:
        k.stop()


def test_the_corpus_is_there() -> None:
    assert len(SCRIPTS) >= 30


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_a_script_prints_the_same_through_the_kernel(sim_kernel: Kernel, script: Path) -> None:
    source = script.read_bytes()
    want_out, want_exception = on_a_bare_raw_repl(source)
    run = sim_kernel.run(source.decode(), timeout=60)
    got_exception = run.reply.get("ename") if run.status == "error" else None
    assert run.stream() == want_out
    assert got_exception == want_exception
    assert not run.of_type("execute_result")  # the scripts end in statements


@pytest.mark.parametrize(
    ("cell", "line"),
    [
        ("x = 1\n%lsmagic\nvalues = [\n    1,\n    2\n    3,\n]", 6),
        ("a = 1\n\n\nif a:\n    b = (1 +\n\n)\n", 7),
        ("print(1)\n!true\nprint(2)\ns = '''unclosed\n", 4),
    ],
    ids=["list-after-a-magic", "open-bracket", "unclosed-string-after-a-shell-line"],
)
def test_a_syntax_error_points_at_the_cells_line(sim_kernel: Kernel, cell: str, line: int) -> None:
    run = sim_kernel.run(cell)
    assert run.reply.get("ename") == "SyntaxError", run.reply
    assert f'File "<stdin>", line {line}' in "\n".join(run.reply["traceback"])
