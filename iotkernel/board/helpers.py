# Device-side helpers of IoT Kernel (MicroPython source, sent to the board).
#
# Executed once per interpreter session with exec() into a private dict kept
# in sys.modules['__iotk'], so nothing here touches the user's globals.
# The host calls ev(globals(), SOURCE, CRC, USER): SOURCE is an expression
# (as a string) and CRC its CRC-32, so a request corrupted on the way fails
# here instead of running. The reply is the last line printed:
# '\x1e' JSON '\x1f' CRC-32 of the JSON and the request's CRC (8 hex digits
# each), so the host can tell a corrupted or stale reply from a good one.
# Works on MicroPython, CircuitPython and CPython (the fake board).

MARK = "\x1e"
BYTES_TAG = "__iotk_bytes__"
ROWS_TAG = "__iotk_rows__"

# Modules imported once, here: inside a function, MicroPython looks for an
# extensible built-in (os, json, binascii, hashlib) on the filesystem first
# at every import, a stat per sys.path entry (about 10 ms each on a Pico's
# littlefs: a 50-file listing took 2.5 s).
import binascii
import json
import os
import sys


PLAIN = (str, int, bool, float, type(None))


def conv(v):
    # Returns v itself when nothing in it needs converting: a large listing
    # is not copied on a small heap. A flat list of plain values (a listing's
    # row) is seen in one loop: a call per item took half of a Pico's time
    # to stream a 50-file listing.
    t = type(v)
    if t in PLAIN:
        return v
    if t is list or t is tuple:
        for x in v:
            if type(x) not in PLAIN:
                break
        else:
            return v
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return {BYTES_TAG: binascii.b2a_base64(v).decode().strip()}
    if isinstance(v, (list, tuple)):
        out = None
        for i, x in enumerate(v):
            y = conv(x)
            if y is not x:
                if out is None:
                    out = list(v)
                out[i] = y
        return v if out is None else out
    if isinstance(v, dict):
        out = None
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeError("dict key %r is not a string: JSON cannot carry it" % (k,))
            y = conv(x)
            if y is not x:
                if out is None:
                    out = dict(v)
                out[k] = y
        return v if out is None else out
    raise TypeError("a value of type '%s' cannot be sent as JSON" % type(v).__name__)


def crc(data):
    try:
        return binascii.crc32(data) & 0xFFFFFFFF
    except AttributeError:  # no crc32 in this port's binascii
        c = 0xFFFFFFFF
        for x in data:
            c ^= x
            for _ in range(8):
                c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
        return c ^ 0xFFFFFFFF


def put(v, req=0):
    send(MARK, json.dumps(conv(v)), "%08x" % req)


def strcrc(s):
    # The CRC-32 of a str taken of the str itself where the port allows
    # (MicroPython: a str is a buffer): no copy of a large reply. CPython
    # (the fake board) encodes it.
    try:
        return crc(s)
    except TypeError:
        return crc(s.encode())


def send(mark, s, tail):
    # One reply line: mark, JSON, '\x1f', its CRC-32 and `tail`. A short one
    # in one print (on a USB board, one packet), a long one in three: no
    # copy of a large reply.
    c = strcrc(s)
    if len(s) < 512:
        print("%s%s\x1f%08x%s" % (mark, s, c, tail))
        return
    print(mark, end="")
    print(s, end="")
    print("\x1f%08x%s" % (c, tail))


def ev(g, src, want, user):
    if crc(src.encode()) != want:
        raise ValueError("request corrupted in transit")
    put(eval(src, g if user else globals()), want)


def emit(lines):
    # The held lines in one print, and none held after.
    if lines:
        print("".join(lines), end="")
        lines.clear()


def rows(src, want, g=None):
    # Streams the items of an iterable helper call (evaluated among the
    # helpers, or among the user's globals `g`), one checked line each
    # ('\x1d' JSON '\x1f' CRC-32), then their count as the reply: a long
    # listing never sits whole in a small heap.
    if crc(src.encode()) != want:
        raise ValueError("request corrupted in transit")
    # Short rows go out four lines per print: each print is a USB packet or
    # a UART burst of its own (on a Pico, a third of a listing's time).
    n = 0
    lines = []
    for item in eval(src, globals() if g is None else g):
        s = json.dumps(conv(item))
        item = None
        n += 1
        if len(s) < 256:
            lines.append("\x1d%s\x1f%08x\n" % (s, strcrc(s)))
            if len(lines) == 4:
                emit(lines)
        else:
            emit(lines)
            send("\x1d", s, "")
        s = None
    emit(lines)
    put({ROWS_TAG: n}, want)


def ident():
    impl = sys.implementation
    uid = None
    try:
        import machine

        uid = machine.unique_id()
    except Exception:
        try:
            import microcontroller

            uid = microcontroller.cpu.uid
        except Exception:
            pass
    machine_name = getattr(impl, "_machine", "")
    if not machine_name:
        try:
            machine_name = __import__("os").uname().machine
        except Exception:
            pass
    board_id = None
    try:
        import board

        board_id = board.board_id
    except Exception:
        pass
    return {
        "uid": binascii.hexlify(uid).decode() if uid else None,
        "platform": sys.platform,
        "implementation": impl.name,
        "version": ".".join(str(x) for x in impl.version[:3]),
        "machine": machine_name,
        "mpy": getattr(impl, "_mpy", None),
        "board": board_id,
    }
