"""Turning board output bytes into notebook text.

Owns incremental UTF-8 decoding per stream (a character split across two
reads survives; invalid bytes become U+FFFD instead of `b'...'` literals),
what of the board's text is shown as is (all of it, but escape sequences
other than colours),
the split between printed output and a cell's trailing-expression value
(after `RESULT_MARK`), and `input()`: the hook a cell gets and the prompt
markers it prints. No I/O here.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable

from .cells import MARK, RESULT_MARK

INPUT_MARK = MARK + "I"  # the board asks for a line: INPUT_MARK + prompt + INPUT_END
INPUT_END = MARK + "."
# A prompt longer than this is not held back waiting for its end: shown.
MAX_PROMPT = 4096
# A trailing expression's value is kept up to this many characters.
MAX_VALUE = 256 * 1024

# An `input` for one cell: it marks its prompt for the kernel, then reads.
_INPUT_HOOK = (
    f"input = (lambda real: lambda p='': print({INPUT_MARK!r} + str(p) + {INPUT_END!r}, "
    "end='') or real())(__import__('builtins').input); "
)
# Where the frontend allows no stdin (nbclient, papermill): fail at once.
_NO_INPUT_HOOK = (
    "input = lambda p='': (_ for _ in ()).throw("
    "EOFError('input() is not available: this frontend does not allow stdin')); "
)


def with_input_hook(source: str, *, allow_stdin: bool) -> str:
    """Prefix the cell's first line with an `input` that tells the kernel
    it waits (its markers around the prompt), or that fails at once when
    the frontend does not allow stdin. On the same line: line numbers stay."""
    hook = _INPUT_HOOK if allow_stdin else _NO_INPUT_HOOK
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if line.strip():
            if line[:1] in (" ", "\t"):
                return source  # an indented first line: leave it alone
            lines[index] = hook + line
            return "\n".join(lines)
    return source


# What the board printed is shown as it was: NULs, \r, \b and colour
# sequences (SGR: ESC [ ... m, which JupyterLab, Notebook and VS Code
# render) pass through. Every other escape sequence is neutralised, visibly:
# its ESC becomes U+241B (␛). Notebooks ignore such sequences, but
# terminal frontends (jupyter console) would obey them: move the cursor over
# earlier output, retitle the window, write the clipboard (OSC 52).
_NOT_A_COLOUR = re.compile(r"\x1b(?!\[[0-9;:]*m)")
ESCAPE_SHOWN = "\u241b"
# The start of a colour sequence at the end of a chunk (its end may be in the
# next read): held back, at most this long.
_PARTIAL_COLOUR = re.compile(r"\x1b(?:\[[0-9;:]{0,30})?$")


def board_text(text: str) -> str:
    """Board text as the notebook shows it (see above)."""
    return _NOT_A_COLOUR.sub(ESCAPE_SHOWN, text) if "\x1b" in text else text


class IncrementalText:
    """Decodes one byte stream to text, keeping split characters for later."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


# A cell's live output goes to the notebook at most this fast, in characters
# a second, after a first burst; faster output is dropped and counted. The
# same figure as Jupyter Server's own `iopub_data_rate_limit` (1 MB/s), which
# would drop it anyway, but only after the kernel had queued it all.
OUTPUT_RATE = 1_000_000
OUTPUT_BURST = 2_000_000


class OutputRateLimit:
    """Passes text to `sink` within a rate (a token bucket: `burst`
    characters at once, refilled at `rate` a second); what does not fit is
    dropped, counted, and said through `note` when output fits again and at
    `close()`. Keeps a board that prints as fast as it can from growing the
    kernel's queue of messages to the frontend without bound."""

    def __init__(
        self,
        sink: Callable[[str], None],
        note: Callable[[str], None],
        *,
        rate: float = OUTPUT_RATE,
        burst: int = OUTPUT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink, self._note, self._rate, self._burst = sink, note, rate, burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self.dropped = 0
        self._unsaid = 0

    def __call__(self, text: str) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        fits = min(len(text), int(self._tokens))
        if fits and self._unsaid and fits == len(text):
            self._say_dropped()
        if fits:
            self._tokens -= fits
            self._sink(text[:fits])
        if fits < len(text):
            self.dropped += len(text) - fits
            self._unsaid += len(text) - fits

    def _say_dropped(self) -> None:
        self._note(
            f"\n[… {self._unsaid:,} characters not shown: the board printed faster than "
            f"{self._rate / 1e6:g} M characters a second]\n"
        )
        self._unsaid = 0

    def close(self) -> None:
        if self._unsaid:
            self._say_dropped()


class StdoutSplitter:
    """Separates a cell's stdout into printed text, `input()` prompts and the
    trailing expression's value.

    `on_text(text)` gets printed text as it arrives; `on_prompt(prompt)` is
    called when the board waits in `input()`; the value's repr is collected
    in `result` (None if the cell had no value).
    """

    def __init__(
        self, on_text: Callable[[str], None], on_prompt: Callable[[str], None] | None = None
    ) -> None:
        self._decoder = IncrementalText()
        self._on_text = on_text
        self._on_prompt = on_prompt
        self._pending = ""  # text that may be the start of a mark, or a prompt on its way
        self._held = ""  # a \r or the start of a colour sequence, ending a chunk
        self.result: str | None = None
        self._result_dropped = 0

    def feed(self, data: bytes) -> None:
        self._process(self._decoder.feed(data))

    def close(self) -> None:
        self._process(self._decoder.flush(), final=True)
        if self._held:
            self._held, text = "", self._held
            self._on_text(board_text(text))
        if self.result is not None and self._result_dropped:
            self.result += f"… ({self._result_dropped} more characters)"

    def _process(self, text: str, final: bool = False) -> None:
        if self.result is not None:
            room = MAX_VALUE - len(self.result)
            self.result += text[:room]
            self._result_dropped += max(0, len(text) - room)
            return
        text = self._pending + text
        self._pending = ""
        while text:
            mark = text.find(MARK[0])
            if mark < 0:
                self._emit(text)
                return
            self._emit(text[:mark])
            rest = text[mark:]
            if rest.startswith(INPUT_MARK):
                end = rest.find(INPUT_END, len(INPUT_MARK))
                if end < 0:
                    if final or len(rest) > MAX_PROMPT:
                        self._emit(rest)
                    else:
                        self._pending = rest  # the prompt is not complete yet
                    return
                prompt = rest[len(INPUT_MARK) : end]
                if self._on_prompt is not None:
                    self._on_prompt(prompt)
                else:
                    self._emit(prompt)
                text = rest[end + len(INPUT_END) :]
                continue
            if rest.startswith(RESULT_MARK):
                self.result = ""
                self._process(rest[len(RESULT_MARK) :])
                return
            if not final and (INPUT_MARK.startswith(rest) or RESULT_MARK.startswith(rest)):
                self._pending = rest  # might become a mark
                return
            # Not a mark of ours: the program's own bytes.
            self._emit(rest[:1])
            text = rest[1:]

    def _emit(self, text: str) -> None:
        # Boards end lines with \r\n; a notebook wants \n (a lone \r, as in a
        # progress line, stays). A \r at the end of a chunk waits for the
        # next, and so does the start of a colour sequence.
        text = self._held + text
        self._held = ""
        partial = _PARTIAL_COLOUR.search(text)
        if partial:
            text, self._held = text[: partial.start()], text[partial.start() :]
        elif text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        text = text.replace("\r\n", "\n")
        if text:
            self._on_text(board_text(text))
