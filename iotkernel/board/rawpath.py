# The raw data path of IoT Kernel's device-side helpers (MicroPython source).
#
# Installed after files.py into the same namespace (sys.modules['__iotk']):
# it uses helpers.py's crc and files.py's W, wbegin, wend and wabort there. CPython
# imports this file too (the tests of the frame decoder): nothing runs at
# import but the class statement.

import sys

# --- the raw data path -------------------------------------------------------
# File bytes travel as bytes on stdin, not as source: frames of 4 hex digits
# (the length of the escaped data), the escaped data, then 8 hex digits (the
# CRC-32 of the data). Escaped: the REPL's control bytes 0x01-0x05 and the
# escape byte 0x10 itself become 0x10, byte + 0x40, so data never stops the
# code (Ctrl-C stays on: the host can always interrupt a receiver waiting
# for a byte that was lost) and a frame cut short is never run by the REPL.
# The receiver says where it is on stdout: \x06R ready, \x06. another 512
# bytes read, \x06r a frame read
# (the next one's first bytes may come: they fit the UART's buffer), \x06d
# a frame written (the rest may come). Compressible files come deflated,
# each frame a zlib stream of its own (a window of at most 4 KB), inflated
# as they arrive.


def unesc(d):
    # A loop over split pieces: measured fastest on a Pico (10 ms a 4 KB
    # frame of random bytes, whose 2.3 % are escaped); bytes.replace per
    # escape kind took 28, slices into one buffer 20 (MicroPython's
    # allocations and memcmp-per-position scans).
    p = d.split(b"\x10")
    o = [p[0]]
    for q in p[1:]:
        o.append(bytes((q[0] - 0x40,)))
        o.append(q[1:])
    return b"".join(o)


# The same, in place and as machine code where the port compiles viper (the
# Pico, ESP32, STM32, the QEMU board): a 4 KB frame of random bytes costs
# about a tenth of unesc's time, which had been a third of a Pico's upload.
# Compiled from a string, so a port without a native emitter (and CPython)
# gets None here and unesc instead.
VIPER_UNESC = """
@micropython.viper
def unescv(b, n: int) -> int:
    p = ptr8(b)
    i = 0
    j = 0
    while i < n:
        c = p[i]
        if c == 0x10 and i + 1 < n:
            i += 1
            c = p[i] - 0x40
        p[j] = c
        i += 1
        j += 1
    return j
"""
try:
    import micropython

    exec(VIPER_UNESC)
except Exception:
    unescv = None


def unframe(buf, n):
    # A frame's data from its escaped bytes, buf[:n].
    if unescv is not None:
        return memoryview(buf)[: unescv(buf, n)]
    data = bytes(memoryview(buf)[:n])
    return unesc(data) if b"\x10" in data else data


class Frames:
    # The frames of a raw transfer, read from stdin and checked one by one.
    def __init__(self, count):
        self.r = sys.stdin.buffer
        self.left = count
        self.room = None  # one buffer for every frame: no 4 KB block each
        self.started = False
        print("\x06R", end="")

    def frame(self):
        if self.started:
            print("\x06d", end="")  # the last one is written: send the rest
        self.started = True
        if not self.left:
            return None
        self.left -= 1
        r = self.r
        n = int(r.read(4), 16)
        buf = self.room
        if buf is None or len(buf) < n:
            self.room = buf = None  # the old one freed before the new one
            self.room = buf = bytearray(n)
        mv = memoryview(buf)
        i = 0
        while i < n:
            k = r.readinto(mv[i : i + min(512, n - i)])
            if not k:
                raise OSError(5)  # EIO: stdin closed
            i += k
            print("\x06.", end="")  # still reading: the host's watchdog waits
        c = int(r.read(8), 16)
        print("\x06r", end="")
        mv = None
        data = unframe(buf, n)  # valid until the next frame is read
        buf = None
        if crc(data) != c:
            raise ValueError("frame corrupted in transit")
        return data


def rx(path, size, want, count, packed):
    # `count` frames carry the file, deflated (zlib format) when `packed`.
    # Ready (Frames prints it) only once the file is open: the host sends a
    # whole frame then, and a UART buffer holds only 256 bytes.
    wbegin(path)
    got = 0
    try:
        src = Frames(count)
        f = W[path]
        if packed:
            # Each frame is a zlib stream of its own, inflated from memory:
            # the inflater reads its input a byte at a time.
            import deflate
            import io

            buf = bytearray(512)
            mv = memoryview(buf)
            while True:
                data = src.frame()
                if data is None:
                    break
                z = deflate.DeflateIO(io.BytesIO(data), deflate.ZLIB)
                data = None
                while True:
                    n = z.readinto(buf)
                    if not n:
                        break
                    if f.write(mv[:n]) != n:
                        raise OSError(28)  # ENOSPC: the device is full
                    got += n
                z = None
        else:
            while True:
                data = src.frame()
                if data is None:
                    break
                if f.write(data) != len(data):
                    raise OSError(28)
                got += len(data)
                data = None
        if got != size:
            raise ValueError("%d bytes arrived, %d announced" % (got, size))
        return [got, wend(path, want)]
    except BaseException:
        wabort(path)
        raise


def tx(path, offset, n):
    # A raw download's chunk: its bytes on stdout as they are, but 0x04 (it
    # ends the REPL's output), 0x10 (the escape) and '"' (so the boot banner
    # can never appear in it) escaped as 0x10, byte + 0x40; its length and
    # CRC-32 in the reply.
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(n)
    k = len(data)
    c = crc(data)
    data = data.replace(b"\x10", b"\x10\x50").replace(b"\x04", b"\x10\x44")
    sys.stdout.buffer.write(data.replace(b'"', b"\x10\x62"))
    return [k, c]


def rxok():
    # Whether this board can take the raw data path (in, and out), and inflate.
    ok = hasattr(getattr(sys.stdin, "buffer", None), "read")
    out = hasattr(getattr(sys.stdout, "buffer", None), "write")
    try:
        import deflate

        return [ok, ok and hasattr(deflate, "DeflateIO"), out]
    except ImportError:
        return [ok, False, out]


def rchunk(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)
