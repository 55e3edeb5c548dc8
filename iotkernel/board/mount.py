# The board side of %mount: a filesystem whose files live on the host.
#
# Runs on MicroPython, in its own namespace (sys.modules['__iotk_mount']);
# uses the helpers' crc and unesc. While code runs, each request goes out on
# stdout as \x18 + the mount's secret + a JSON array + \n (the host answers
# only lines with the secret: what the program prints is never a request);
# the secret lives in a class attribute, so no repr of a namespace shows it.
# The host answers on stdin with the
# status (2 hex digits: 0, or an errno), then the body in one frame as the raw
# data path's (4 hex digits of length, the escaped bytes, 8 of CRC-32); on a
# link that carries text only (WebREPL's text frames) the body is base64. Ctrl-C
# stays on: a stop while the board waits for an answer interrupts it.
# Files are read in blocks of BLOCK bytes, cached: the importer's small reads
# and readline() cost no round trip each.
# Modules are imported here, before the mount: an import inside a request
# would look for the module on the mount first, a request within a request.
import binascii
import io
import json
import sys

BLOCK = [2048]  # set by mount(): smaller on a small heap
B64 = [0]  # set by mount(): answers in base64 on a link that carries text only (WebREPL)
MAX_REQUEST = 4000  # the host takes lines of up to 4096 bytes


class K:
    k = ""  # the mount's secret, set by mount()


C = hasattr(binascii, "crc32")
# The board's epoch: 2000 on most bare-metal ports, 1970 on the unix port.
T = __import__("time")
T = getattr(T, "gmtime", None) or getattr(T, "localtime", None)
E = 0 if T and T(0)[0] == 1970 else 946684800


def req(*a):
    h = sys.modules["__iotk"]
    q = json.dumps(a)
    if len(q) > 1000 and len(q.encode()) > MAX_REQUEST:
        raise OSError(36)  # ENAMETOOLONG: the host would take it for output
    sys.stdout.write("\x18" + K.k + q + "\n")
    r = sys.stdin.buffer
    s = int(r.read(2), 16)
    n = int(r.read(4), 16)
    i = 0  # the answer's bytes read: n of body, then 8 of CRC
    try:
        b = bytearray(n)
        m = memoryview(b)
        while i < n:
            k = r.readinto(m[i:])
            if not k:
                raise OSError(5)  # EIO: stdin closed
            i += k
        m = None
        t = r.read(8)
        i += 8
    except MemoryError:
        # The rest of the answer is on its way: read it away, so the link
        # stays in step (a small heap can fail here while it compiles).
        b = m = None
        skip(r, n + 8 - i)
        raise
    c = int(t, 16)
    if b"\x10" in b:  # kept as read, without a copy, unless escaped
        u = h["unescv"]  # machine code where the port compiles viper
        b = b[: u(b, n)] if u else h["unesc"](bytes(b))
    if (binascii.crc32(b) & 0xFFFFFFFF if C else h["crc"](b)) != c:
        raise OSError(5)
    if s:
        raise OSError(s)
    if B64[0]:
        b = binascii.a2b_base64(b)
    return b


def skip(r, k):
    while k > 0:
        k -= len(r.read(min(k, 16))) or k


def js(*a):
    return json.loads(bytes(req(*a)))


# The filesystem and its files in small classes: a piece of source each,
# small enough for a fragmented 40 KB heap to take.
class RemoteBase:
    def __init__(self):
        self.cwd = "/"

    def mount(self, ro, mkfs):
        pass

    def umount(self):
        pass

    def p(self, p):
        return p if p.startswith("/") else self.cwd.rstrip("/") + "/" + p

    def chdir(self, p):
        p = self.p(p)
        if not self.stat(p)[0] & 0x4000:
            raise OSError(20)  # ENOTDIR
        self.cwd = p

    def getcwd(self):
        return self.cwd


class RemoteFS(RemoteBase):
    def ilistdir(self, p):
        # In pages that fit a block: a big folder never comes whole.
        p = self.p(p)
        i = 0
        while i is not None:
            r, i = js("ls", p, i)
            for n, k, s in r:
                yield (n, k, 0, s)

    def stat(self, p):
        m, s, t = js("st", self.p(p))
        t -= E
        return (m, 0, 0, 0, 0, 0, s, t, t, t)

    def statvfs(self, p):
        return tuple(js("df", self.p(p)))

    def remove(self, p):
        req("rm", self.p(p))

    def rename(self, a, b):
        req("mv", self.p(a), self.p(b))

    def mkdir(self, p):
        req("mk", self.p(p))

    def rmdir(self, p):
        req("rd", self.p(p))

    def open(self, p, mode):
        return RFile(self.p(p), mode)


class RBase(io.IOBase):
    def __init__(self, p, mode):
        self.p = p
        self.b = "b" in mode
        self.pos = 0
        self.buf = b""
        self.at = 0
        self.h = None
        if "+" in mode:
            raise OSError(22)  # EINVAL: read and write at once is not offered
        if "w" in mode or "a" in mode or "x" in mode:
            self.h = js("wo", p, mode)
            self.out = bytearray()
        else:
            js("ro", p)  # there, and a file

    def chunk(self):
        # Where pos is in the cached block (fetching the next block when
        # pos is past it); the block is empty at the end of the file.
        o = self.pos - self.at
        if o < 0 or o >= len(self.buf):
            self.buf = b""
            self.buf = req("rb", self.p, self.pos, BLOCK[0])
            self.at = self.pos
            o = 0
        return o


class RRead(RBase):
    def readinto(self, b):
        # Fills b (the importer takes a short read for the end of the file).
        t = 0
        while t < len(b):
            o = self.chunk()
            n = min(len(b) - t, len(self.buf) - o)
            if not n:
                break
            b[t : t + n] = memoryview(self.buf)[o : o + n]
            self.pos += n
            t += n
        return t

    def text(self, d):
        return d if self.b else d.decode()

    def read(self, n=-1):
        out = []
        while n:
            o = self.chunk()
            k = len(self.buf) - o
            if not k:
                break
            if 0 < n < k:
                k = n
            out.append(self.buf[o : o + k])
            self.pos += k
            n -= k if n > 0 else 0
        return self.text(b"".join(out))


class RLines(RRead):
    def readline(self):
        out = []
        while True:
            o = self.chunk()
            if o >= len(self.buf):
                break
            i = self.buf.find(b"\n", o) + 1
            e = i or len(self.buf)
            out.append(self.buf[o:e])
            self.pos += e - o
            if i:
                break
        return self.text(b"".join(out))

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def seek(self, n, whence=0):
        if whence == 1:
            n += self.pos
        elif whence == 2:
            n += js("st", self.p)[1]
        self.pos = max(0, n)
        return self.pos

    def tell(self):
        return self.pos


class RWrite(RLines):
    def write(self, d):
        if self.h is None:
            raise OSError(9)  # EBADF: not open for writing
        if isinstance(d, str):
            d = d.encode()
        m = memoryview(d)
        for i in range(0, len(d), 768):  # a large write in slices: small requests
            self.out += m[i : i + 768]
            if len(self.out) >= 768:
                self.flush()
        return len(d)

    def flush(self):
        if self.h is not None and self.out:
            req("wd", self.h, binascii.b2a_base64(self.out).decode().strip())
            self.out = bytearray()


class RFile(RWrite):
    def close(self):
        # The host renames a written file over its target only here: a
        # program stopped half-way leaves the old file as it was.
        if self.h is not None:
            self.flush()
            req("wc", self.h)
            self.h = None
        self.buf = b""

    def ioctl(self, op, arg):
        if op == 4:  # close
            self.close()
        if op == 11:  # the importer's buffer size (32 bytes otherwise)
            return 256
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def vfs():
    # Where mount and umount are: os (MicroPython), vfs (since 1.23 only
    # there on some ports), storage (CircuitPython).
    import os

    if hasattr(os, "mount"):
        return os
    try:
        return __import__("vfs")
    except ImportError:
        return __import__("storage")


def mount(at, block, b64, key):
    import os

    BLOCK[0] = block
    B64[0] = b64
    K.k = key
    v = vfs()
    m, u = v.mount, v.umount
    try:
        u(at)
    except OSError:
        pass
    m(RemoteFS(), at)
    os.chdir(at)
    if at in sys.path:
        sys.path.remove(at)
    sys.path.insert(0, at)


def umount(at):
    import os

    u = vfs().umount
    if os.getcwd().startswith(at):
        os.chdir("/")
    u(at)
    if at in sys.path:
        sys.path.remove(at)
