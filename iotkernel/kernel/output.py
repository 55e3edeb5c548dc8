"""Turning board output bytes into notebook text.

Owns incremental UTF-8 decoding per stream (a character split across two
reads survives; invalid bytes become U+FFFD instead of `b'...'` literals),
the split between printed output and a cell's trailing-expression value
(after `RESULT_MARK`), and the prompt markers of `input()`. No I/O here.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from .cells import RESULT_MARK

INPUT_MARK = "\x1dI"  # the board asks for a line: INPUT_MARK + prompt + INPUT_END
INPUT_END = "\x1d"
# Terminal escape sequences are not passed to the browser unfiltered.
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]")


def clean_text(text: str) -> str:
    """Board text as it is safe to show: no terminal escapes, no NULs."""
    return _ESCAPES.sub("", text).replace("\x00", "")


class IncrementalText:
    """Decodes one byte stream to text, keeping split characters for later."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


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
        self._pending = ""  # text that may be the start of a marker
        self._held_cr = ""
        self.result: str | None = None

    def feed(self, data: bytes) -> None:
        self._process(self._decoder.feed(data))

    def close(self) -> None:
        self._process(self._decoder.flush(), final=True)
        if self._held_cr:
            self._held_cr, text = "", self._held_cr
            self._on_text(text)

    def _process(self, text: str, final: bool = False) -> None:
        if self.result is not None:
            self.result += text
            return
        text = self._pending + text
        self._pending = ""
        while text:
            mark = text.find(RESULT_MARK)
            if mark < 0:
                self._emit(text)
                return
            self._emit(text[:mark])
            rest = text[mark:]
            if rest.startswith(INPUT_MARK):
                end = rest.find(INPUT_END, len(INPUT_MARK))
                if end < 0:
                    if final:
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
            if len(rest) == 1 and not final:
                self._pending = rest  # might become an input marker
                return
            self.result = rest[len(RESULT_MARK) :]
            return

    def _emit(self, text: str) -> None:
        # Boards end lines with \r\n; a notebook wants \n (a lone \r, as in a
        # progress line, stays). A \r at the end of a chunk waits for the next.
        text = self._held_cr + text
        self._held_cr = ""
        if text.endswith("\r"):
            text, self._held_cr = text[:-1], "\r"
        text = text.replace("\r\n", "\n")
        if text:
            self._on_text(text)
