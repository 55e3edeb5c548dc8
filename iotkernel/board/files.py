# Device-side file helpers of IoT Kernel (MicroPython source, sent to the board).
#
# Installed into the helpers' namespace (sys.modules['__iotk'], after
# helpers.py, whose conv/crc/put/rows they use) on the first file operation
# of an interpreter session, with rawpath.py: a session that only runs code
# never compiles them, and a small heap keeps that room for the user's code.
# FILES, set by the last piece, names the version installed.

# Imported once, here (see helpers.py: an import inside a function stats the
# filesystem first).
try:
    import hashlib
except ImportError:
    hashlib = None
try:
    import micropython
except ImportError:
    micropython = None


def intr(on):
    # Ctrl-C on or off around a step an interrupt must not split (where the
    # port can say so).
    if hasattr(micropython, "kbd_intr"):
        micropython.kbd_intr(3 if on else -1)


# Paths arrive as repr()-quoted strings. A write goes to a temporary, is
# checked against the host's hash, then renamed over PATH: a cut transfer
# leaves the old file as it was. The temporary sits in a directory of its own
# beside PATH (DIR/.iotk-tmp/CRC.iotk-tmp, where CRC is PATH's CRC-32): on
# littlefs a rename scans the directory the file leaves, so a rename within
# a directory of 50 files cost ten times one out of a nearly empty one. That
# directory goes once the write ends, or, in a batch (KEEP), when it ends.

TMP = ".iotk-tmp"
W = {}
T = {}  # target path -> its temporary, while a write is open or ending
D = {}  # directory -> its temporaries' directory made here ('' where none can be)
KEEP = []  # not empty while a batch of writes is under way: temporaries' directories stay


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
            if name.endswith(TMP):
                continue  # a write's temporary (or their directory)
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
        rmdir(path)
    else:
        os.remove(path)
    return True


def rmdir(path):
    # A directory that looks empty may still hold the empty temporaries'
    # directory a cut write left (no listing shows it).
    try:
        os.rmdir(path.rstrip("/") + "/" + TMP)
    except OSError:
        pass
    os.rmdir(path)
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


def tmpdir(path):
    # The directory of PATH's temporaries, made on first use; '' where it
    # cannot be (a read-only or odd filesystem, a file of that name): then
    # the temporary sits beside PATH, as PATH + TMP.
    i = path.rfind("/")
    d = path[:i]
    t = D.get(d)
    if t is None:
        t = d + "/" + TMP
        try:
            os.mkdir(t)
        except OSError as e:
            if e.args[0] != 17 or not os.stat(t)[0] & 0x4000:  # EEXIST: a directory?
                t = ""
        D[d] = t
    return t


def tmpof(path):
    t = tmpdir(path)
    return "%s/%08x%s" % (t, strcrc(path), TMP) if t else path + TMP


def wbegin(path):
    wclose(path)
    # Ctrl-C off from the temporaries' directory made to the file opened and
    # stored: an interrupt between would leave a directory or an open file
    # nobody would remove or close.
    intr(False)
    try:
        T[path] = tmpof(path)
        try:
            os.remove(T[path])  # a temporary left by a cut transfer
        except OSError:
            pass
        W[path] = open(T[path], "wb")
    finally:
        intr(True)
    return hasher()[0]


def wtidy():
    # Removes the temporaries' directories no write needs any more (a
    # directory still holding a file, a cut transfer's, stays).
    if KEEP:
        return
    for d, t in list(D.items()):
        if t:
            try:
                os.rmdir(t)
            except OSError:
                pass
        del D[d]


def wbatch(on):
    # Writes in a batch keep their temporaries' directories until it ends.
    KEEP.clear()  # (the helper probe clears it too: a new host session)
    if on:
        KEEP.append(True)
    wtidy()
    return True


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
    tmp = T.pop(path)
    got = hashfile(tmp)
    if got != want:
        os.remove(tmp)
        wtidy()
        raise ValueError("hash mismatch: " + got)
    intr(False)  # the file in place and its temporaries' directory gone, or neither
    try:
        try:
            os.rename(tmp, path)
        except OSError:
            # FAT cannot rename over an existing file: the new content is
            # verified in the temporary, so replace the old one now.
            os.remove(path)
            os.rename(tmp, path)
        wtidy()
    finally:
        intr(True)
    return got


def wabort(path):
    wclose(path)
    intr(False)
    try:
        # (A write of an earlier session left its temporary where tmpof says.)
        try:
            os.remove(T.pop(path, None) or tmpof(path))
        except OSError:
            pass
        wtidy()
    finally:
        intr(True)
    return True
