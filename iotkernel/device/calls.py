"""Calls to the board-side helpers, as text: built, installed and checked.

Owns everything about the helpers that needs no board: cutting the
helpers (`board/helpers.py`, and the file helpers `board/files.py` and
`board/rawpath.py`) into pieces a 40 KB heap can compile, the source of a
call (arguments always quoted with `repr()`, values as literals), and
checking and decoding what a helper printed (its JSON reply with the
CRC-32 of the reply and of the request, or streamed rows with one CRC-32
each), and the board's identity from its `ident()` reply. Pure functions:
`BoardHelpers` (client.py) runs the calls, this module says what they are
and what came back.

A reply that fails a check is a `HelperReplyError`, never a value.
"""

from __future__ import annotations

import ast
import binascii
import hashlib
import io
import json
import tokenize
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .. import replies
from ..errors import HelperReplyError, MalformedReplyError
from ..replies import check_depth

RESULT_MARK = b"\x1e"  # starts a reply
CHECK_MARK = b"\x1f"  # between a reply and its CRC-32 values
ROW_MARK = b"\x1d"  # starts a streamed row
BYTES_TAG = "__iotk_bytes__"  # a JSON object standing for bytes (base64)
ROWS_TAG = "__iotk_rows__"  # the count ending a stream of rows
MAX_REPLY = 16 * 1024 * 1024
# A streamed row (a listing's entry: path, kind, size, time, hash) is small.
MAX_ROW = 8 * 1024
PIECE_LIMIT = 1200
# Modules installed later arrive when the user's data may have fragmented a
# small heap: in smaller pieces, each compiled in the blocks such a heap
# still has (the inspector in 1.2 KB pieces found none on a 40 KB board
# holding 20 KB). The default of module_pieces (the test runner); the
# inspector and tracer take it on small heaps only (BoardHelpers), the mount
# has its own.
MODULE_PIECE_LIMIT = 500
# The board-side helpers, in two groups installed in this order into one
# namespace: the core (replies, evaluation, identity) before the first call
# of a session, the file helpers before its first file operation. A session
# that only runs code compiles 6 KB of helpers instead of 17 KB (2 s of an
# emulated Pico's time), and a small heap keeps the difference.
CORE_SOURCES = ("helpers.py",)
FILE_SOURCES = ("files.py", "rawpath.py")
NAMESPACE = "__import__('sys').modules['__iotk']"
# The versions of the two groups on the board, and its free heap after a
# collection. Run once per host session: it also ends a batch of writes a
# session before left open (the file helpers' KEEP; see board/files.py), or
# that session's temporaries' directories would outlive every later write.
HELPER_PROBE = (
    "(lambda m: m.get('KEEP', []).clear() or "
    "print('\\x1e%s %s %d' % (m.get('VERSION'), m.get('FILES'), "
    "__import__('gc').collect() or __import__('gc').mem_free())))"
    "(__import__('sys').modules.get('__iotk', {}))\n"
)


@dataclass(frozen=True)
class HelperPieces:
    """One group of the device-side helpers, as pieces small enough for a
    40 KB heap.

    Each piece is one statement holding at most ~1.2 KB of source as a
    string with its length, its CRC-32 and a position-weighted byte sum:
    a corrupted copy raises instead of installing a helper that could
    return wrong values. The last piece sets the group's version key
    (`VERSION` or `FILES`), so a board whose namespace has this version
    has every piece of the group.
    """

    version: str
    pieces: tuple[str, ...]
    names: frozenset[str]  # the functions the group defines


@dataclass(frozen=True)
class Helpers:
    """The two groups: `core`, installed first into a fresh namespace, and
    `files`, installed into it on demand (its version covers the core's
    source too: it is never mixed with another version's core)."""

    core: HelperPieces
    files: HelperPieces

    def group_of(self, name: str) -> HelperPieces:
        """The group a helper function belongs to."""
        return self.files if name in self.files.names else self.core


def split_top_level(source: str, limit: int) -> list[str]:
    """Group the module's top-level statements into pieces of at most
    `limit` characters (a statement longer than that is a piece of its own);
    comment-only and blank lines are left out: they would only cost heap.
    Statements are found by the parser, so a string spanning lines (code
    compiled on the board from a string) is never cut, nor its lines left out."""
    lines = source.splitlines()
    in_strings: set[int] = set()  # lines inside a string spanning lines (1-based)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            in_strings.update(range(token.start[0] + 1, token.end[0] + 1))
    blocks: list[str] = []
    for node in ast.parse(source).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        kept = [
            lines[number - 1]
            for number in range(first, (node.end_lineno or node.lineno) + 1)
            if number in in_strings
            or (lines[number - 1].strip() and not lines[number - 1].lstrip().startswith("#"))
        ]
        blocks.append("\n".join(kept) + "\n")
    pieces: list[str] = []
    current = ""
    for text in blocks:
        if current and len(current) + len(text) > limit:
            pieces.append(current)
            current = ""
        current += text
    if current:
        pieces.append(current)
    return pieces


def checked_pieces(
    source: str, first_namespace: str, namespace: str, limit: int = PIECE_LIMIT
) -> list[str]:
    """`source`'s top-level statements as statements of at most `limit`
    characters of source each, run with exec() among the globals `namespace`
    evaluates to (`first_namespace` for the first piece, which starts that
    namespace): each checks its text's length and weighted byte sum
    before it runs, and collects garbage before it compiles: the piece's
    long-lived code then fills the heap's low holes instead of splitting
    its large free block (on the 40 KB board the helpers left a largest
    free block of 7 KB without the collection, 28 KB with it). A module too
    big for a small heap to compile at once is installed this way; `limit`
    is the largest piece (a string the heap must hold in one block)."""
    # The check is the CRC-32 where the port's binascii has it (in C: the
    # byte sum, a Python loop per byte, was 40 % of installing the helpers
    # on a Pico, 1 s of 2.4 s emulated), else the weighted byte sum, which
    # every port computes and which fits a port without big integers.
    pieces = []
    for index, text in enumerate(split_top_level(source, limit)):
        data = text.encode()
        weighted = sum((i % 251 + 1) * b for i, b in enumerate(data))
        pieces.append(
            "(lambda s, n, c, w, g, a=__import__('binascii'): "
            "(__import__('gc').collect(), exec(s, g)) "
            "if len(s.encode()) == n and ("
            "a.crc32(s.encode()) & 0xFFFFFFFF == c if hasattr(a, 'crc32') else "
            "sum((i % 251 + 1) * b for i, b in enumerate(s.encode())) == w) else "
            "exec(\"raise ValueError('code corrupted in transit')\"))"
            f"({text!r}, {len(data)}, {zlib.crc32(data)}, {weighted}, "
            f"{first_namespace if index == 0 else namespace})\n"
        )
    return pieces


def module_pieces(resource: str, namespace: str, limit: int = MODULE_PIECE_LIMIT) -> list[str]:
    """`iotkernel/board/RESOURCE` as checked pieces run into a fresh dict at
    `sys.modules[namespace]` (the board side of %mount, the test runner)."""
    modules = "__import__('sys').modules"
    return checked_pieces(
        resources.files("iotkernel.board").joinpath(resource).read_text(),
        f"({modules}.update({{{namespace!r}: {{}}}}), {modules}[{namespace!r}])[1]",
        f"{modules}[{namespace!r}]",
        limit,
    )


def _group_source(names: tuple[str, ...]) -> str:
    board = resources.files("iotkernel.board")
    return "".join(board.joinpath(name).read_text() for name in names)


def _defined_functions(source: str) -> frozenset[str]:
    return frozenset(
        line[4:].partition("(")[0] for line in source.splitlines() if line.startswith("def ")
    )


def load_helpers() -> Helpers:
    core_source = _group_source(CORE_SOURCES)
    file_source = _group_source(FILE_SOURCES)
    core_version = hashlib.sha256(core_source.encode()).hexdigest()[:16]
    files_version = hashlib.sha256((core_source + file_source).encode()).hexdigest()[:16]
    # Each group's first piece closes the files an earlier install left
    # open for writing (littlefs links open files together: one freed by
    # the garbage collector unclosed corrupts that list and hangs the
    # filesystem); the core's also starts a new namespace.
    close_open_writes = (
        "[f.close() for f in __import__('sys').modules.get('__iotk', {}).get('W', {}).values()]"
    )
    fresh_namespace = (
        f"({close_open_writes}, "
        "__import__('sys').modules.update({'__iotk': {}}), " + NAMESPACE + ")[2]"
    )
    core = checked_pieces(core_source + f"VERSION = {core_version!r}\n", fresh_namespace, NAMESPACE)
    files = checked_pieces(
        file_source + f"FILES = {files_version!r}\n",
        f"({close_open_writes}, {NAMESPACE})[1]",
        NAMESPACE,
    )
    return Helpers(
        HelperPieces(core_version, tuple(core), _defined_functions(core_source)),
        HelperPieces(files_version, tuple(files), _defined_functions(file_source)),
    )


HELPERS = load_helpers()


def call_source(name: str, arguments: str) -> str:
    """The statement that calls helper `name` with `arguments` (already quoted)."""
    return f"{NAMESPACE}[{name!r}]({arguments})\n"


def board_literal(value: object) -> str:
    """MicroPython source for JSON-shaped data (None, bools, numbers,
    strings, bytes, lists, dicts); a `TypeError` for others."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(board_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {board_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"value of type {type(value).__name__} cannot go to the board")


def source_arguments(source: str) -> tuple[str, int]:
    """`source` as a string with its CRC-32 (checked on the board before it
    runs), and the CRC-32 the reply must echo."""
    request_crc = zlib.crc32(source.encode())
    return f"{source!r}, {request_crc}", request_crc


def eval_arguments(source: str, *, user: bool) -> tuple[str, int]:
    """The arguments of the checked `ev` helper for `source` (evaluated among
    the user's globals or the helpers'), and the CRC-32 its reply must echo."""
    checked, request_crc = source_arguments(source)
    return f"globals(), {checked}, {user}", request_crc


def payload_arguments(arguments: tuple[object, ...], payload: bytes) -> tuple[str, int]:
    """Arguments quoted with repr(), then the payload as a bytes literal and
    its CRC-32 (checked on the board), and the CRC the reply must echo."""
    request_crc = zlib.crc32(payload)
    quoted = "".join(f"{argument!r}, " for argument in arguments)
    return f"{quoted}{payload!r}, {request_crc}", request_crc


@dataclass(frozen=True)
class DeviceIdentity:
    """Who a board is: `uid` is hex (None when the board has no unique id)."""

    uid: str | None
    platform: str
    implementation: str
    version: str
    machine: str
    # sys.implementation._mpy: the .mpy format the board imports (None: it imports none).
    mpy: int | None = None
    board: str | None = None  # CircuitPython's board.board_id

    @property
    def circuitpython(self) -> bool:
        return self.implementation == "circuitpython"


def parse_identity(info: object) -> DeviceIdentity:
    """The `ident()` helper's reply, checked: a uid in lower-case hex (or
    none), and text of bounded length with control characters shown escaped."""
    if not isinstance(info, dict):
        raise MalformedReplyError("identity", "a JSON object", info)
    uid = replies.optional_text(info.get("uid"), "identity", "a uid", limit=64)
    if uid is not None and (not uid or any(c not in "0123456789abcdef" for c in uid)):
        raise MalformedReplyError("identity", "a uid in lower-case hex", uid)
    fields = {
        name: replies.shown(replies.text(info.get(name, ""), "identity", name))
        for name in ("platform", "implementation", "version", "machine")
    }
    mpy = info.get("mpy")
    if mpy is not None and (type(mpy) is not int or not 0 <= mpy < 1 << 16):
        raise MalformedReplyError("identity", "sys.implementation._mpy, a 16-bit number", mpy)
    board = replies.optional_text(info.get("board"), "identity", "a board id", limit=64)
    return DeviceIdentity(uid=uid, mpy=mpy, board=replies.shown(board) if board else None, **fields)


@dataclass(frozen=True)
class Probe:
    """What `HELPER_PROBE` printed: the versions of the two helper groups
    on the board ("None" where a group is missing) and its free heap."""

    core: str
    files: str
    free: int


def parse_probe(out: bytes) -> Probe:
    line = out[out.rfind(RESULT_MARK) + 1 :].strip().decode("ascii", "replace")
    core, files, free = ([*line.split(" ", 2), "", ""])[:3]
    return Probe(core, files, int(free) if free.isdigit() else 0)


def decode_streamed_rows(out: bytes, request_crc: int) -> list[Any]:
    """The rows a `rows` helper call streamed, checked against the count
    its final reply gives."""
    summary = decode_reply(out, request_crc)
    if not isinstance(summary, dict) or not isinstance(summary.get(ROWS_TAG), int):
        raise HelperReplyError("rows", "a count of streamed rows", repr(summary).encode())
    return decode_rows(out[: out.rfind(RESULT_MARK)], summary[ROWS_TAG])


def decode_reply(out: bytes, request_crc: int) -> Any:
    """Check and decode a helper's reply: MARK json \\x1f crc(json) crc(request)."""
    index = out.rfind(RESULT_MARK)
    if index < 0:
        raise HelperReplyError("reply", "a JSON reply after \\x1e", out[-200:])
    reply = out[index + 1 :].rstrip(b"\r\n")
    payload, sep, checks = reply.rpartition(CHECK_MARK)
    if not sep or len(checks) != 16:
        raise HelperReplyError("reply", "a reply ending in two CRC-32 values", reply[-200:])
    if len(payload) > MAX_REPLY:
        raise HelperReplyError("reply", f"a reply under {MAX_REPLY} bytes", payload[:200])
    try:
        payload_crc, echoed_crc = int(checks[:8], 16), int(checks[8:], 16)
    except ValueError:
        raise HelperReplyError("reply", "hexadecimal CRC-32 values", checks) from None
    if echoed_crc != request_crc:
        raise HelperReplyError("reply", "the reply to this request", reply[-200:])
    if zlib.crc32(payload) != payload_crc:
        raise HelperReplyError("reply", "a reply whose CRC-32 matches", reply[-200:])
    return decode_json(payload, "reply")


def decode_rows(out: bytes, count: int) -> list[Any]:
    """Check and decode streamed rows: each ROW_MARK json \x1f crc(json)."""
    segments = out.split(ROW_MARK)[1:]
    if len(segments) != count:
        raise HelperReplyError("rows", f"{count} rows", f"{len(segments)} rows".encode())
    items = []
    for segment in segments:
        if len(segment) > MAX_ROW:
            raise HelperReplyError("rows", f"rows of at most {MAX_ROW} bytes", segment[:200])
        payload, sep, check = segment.rstrip(b"\r\n").rpartition(CHECK_MARK)
        if not sep or len(check) != 8:
            raise HelperReplyError("rows", "a row ending in its CRC-32", segment[-200:])
        try:
            valid = int(check, 16) == zlib.crc32(payload)
        except ValueError:
            valid = False
        if not valid:
            raise HelperReplyError("rows", "a row whose CRC-32 matches", segment[-200:])
        items.append(decode_json(payload, "rows"))
    return items


def decode_json(payload: bytes, what: str) -> Any:
    """JSON from the board, tags decoded, nesting bounded (a 200 000-deep
    array would otherwise be a RecursionError, or a value that breaks the
    host code walking it)."""
    try:
        return check_depth(json.loads(payload, object_hook=_decode_tags), what)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HelperReplyError(what, "valid JSON", payload[:200]) from exc


def _decode_tags(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and BYTES_TAG in obj:
        encoded = obj[BYTES_TAG]
        if not isinstance(encoded, str):
            raise ValueError("a bytes tag without base64 text")
        return binascii.a2b_base64(encoded)  # binascii.Error is a ValueError
    return obj
