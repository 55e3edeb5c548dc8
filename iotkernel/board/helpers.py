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

try:
    import hashlib
except ImportError:
    hashlib = None


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


# --- files ------------------------------------------------------------------
# Paths arrive as repr()-quoted strings. Writes go to PATH + TMP, are checked
# against the host's hash, then renamed over PATH: a cut transfer leaves the
# old file as it was.

TMP = ".iotk-tmp"
W = {}


def hasher():
    if hasattr(hashlib, "sha256"):
        return "sha256", hashlib.sha256()
    return "crc32", None


def hashfile(path):
    kind, h = hasher()
    buf = bytearray(1024)
    mv = memoryview(buf)
    c = 0
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            if h is None:
                c = crc_update(c, mv[:n])
            else:
                h.update(mv[:n])
    if h is None:
        return "crc32:%08x" % c
    return "sha256:" + binascii.hexlify(h.digest()).decode()


def crc_update(c, data):
    try:
        return binascii.crc32(data, c) & 0xFFFFFFFF
    except AttributeError:
        c ^= 0xFFFFFFFF
        for x in data:
            c ^= x
            for _ in range(8):
                c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
        return c ^ 0xFFFFFFFF


def stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [bool(st[0] & 0x4000), st[6], st[8]]


def tree(root, hashes, times=True):
    # A generator: rows are sent as they are found, never held all at once.
    # Without times, a file's size comes from the listing where the port
    # gives it (a stat costs ~10 ms on littlefs): mtime 0.
    stack = [root]
    while stack:
        d = stack.pop()
        for entry in os.ilistdir(d):
            name, kind = entry[0], entry[1]
            p = d.rstrip("/") + "/" + name
            if kind & 0x4000:
                yield [p, True, 0, 0, None]
                stack.append(p)
            else:
                size = entry[3] if len(entry) > 3 else -1
                t = 0
                if times or size < 0:
                    st = os.stat(p)
                    size, t = st[6], st[8]
                yield [p, False, size, t, hashfile(p) if hashes else None]


def trees(roots, hashes, times=True):
    for root in roots:
        st = stat(root)
        if st is not None and st[0]:
            for row in tree(root, hashes, times):
                yield row


def hashkind():
    return hasher()[0]


def mkdirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            continue
        cur += "/" + part
        try:
            os.mkdir(cur)
        except OSError as e:
            if e.args[0] != 17:  # EEXIST
                raise
    return True


def rm(path, recursive):
    st = os.stat(path)
    if st[0] & 0x4000:
        if recursive:
            for entry in list(os.ilistdir(path)):
                rm(path.rstrip("/") + "/" + entry[0], True)
        os.rmdir(path)
    else:
        os.remove(path)
    return True


def rename(a, b):
    os.rename(a, b)
    return True


# A file open for writing is always reachable from W until it is closed
# (closed first, then forgotten): one the garbage collector finds unclosed
# must close itself in a finaliser, which some block devices (the QEMU
# board's, in Python) cannot run, and littlefs is left corrupted.


def wclose(path):
    w = W.get(path)
    if w is not None:
        w.close()
        del W[path]


def wopen(path):
    # Ctrl-C off while the file is opened and stored: an interrupt between
    # the two would leave an open file nobody can close.
    try:
        import micropython

        micropython.kbd_intr(-1)
    except (ImportError, AttributeError):
        micropython = None
    try:
        W[path] = open(path + TMP, "wb")
    finally:
        if micropython is not None:
            micropython.kbd_intr(3)


def wbegin(path):
    wclose(path)
    try:
        os.remove(path + TMP)  # a temporary left by a cut transfer
    except OSError:
        pass
    wopen(path)
    return hasher()[0]


def wput(path, offset, data, want):
    put(wchunk(path, offset, data, want), want)


def wchunk(path, offset, data, want):
    if crc(data) != want:
        raise ValueError("request corrupted in transit")
    raw = binascii.a2b_base64(data)
    data = None
    f = W[path]
    if f.tell() != offset:
        f.seek(offset)  # a chunk sent again after a failure on the way back
    n = f.write(raw)
    if n != len(raw):
        raise OSError(28)  # ENOSPC: the device is full
    return n


def wone(path, digest, data, want):
    # A file that fits in one chunk, in one round trip: begin, write, verify, rename.
    wbegin(path)
    try:
        n = wchunk(path, 0, data, want)
        data = None
        got = wend(path, digest)
    except BaseException:
        wabort(path)
        raise
    put([n, got], want)


def wend(path, want):
    if path not in W:
        raise ValueError("no transfer to %s is open" % path)
    wclose(path)
    got = hashfile(path + TMP)
    if got != want:
        os.remove(path + TMP)
        raise ValueError("hash mismatch: " + got)
    try:
        os.rename(path + TMP, path)
    except OSError:
        # FAT cannot rename over an existing file: the new content is verified
        # in the temporary, so replace the old one now.
        os.remove(path)
        os.rename(path + TMP, path)
    return got


def wabort(path):
    wclose(path)
    try:
        os.remove(path + TMP)
    except OSError:
        pass
    return True
