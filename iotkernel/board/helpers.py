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


def conv(v):
    import binascii

    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return {BYTES_TAG: binascii.b2a_base64(v).decode().strip()}
    if isinstance(v, (list, tuple)):
        return [conv(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise TypeError("dict key %r is not a string: JSON cannot carry it" % (k,))
            out[k] = conv(x)
        return out
    raise TypeError("a value of type '%s' cannot be sent as JSON" % type(v).__name__)


def crc(data):
    try:
        import binascii

        return binascii.crc32(data) & 0xFFFFFFFF
    except (ImportError, AttributeError):
        c = 0xFFFFFFFF
        for x in data:
            c ^= x
            for _ in range(8):
                c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
        return c ^ 0xFFFFFFFF


def put(v, req=0):
    import json

    s = json.dumps(conv(v))
    print(MARK + s + "\x1f%08x%08x" % (crc(s.encode()), req))


def ev(g, src, want, user):
    if crc(src.encode()) != want:
        raise ValueError("request corrupted in transit")
    put(eval(src, g if user else globals()), want)


def ident():
    import sys
    import binascii

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
    return {
        "uid": binascii.hexlify(uid).decode() if uid else None,
        "platform": sys.platform,
        "implementation": impl.name,
        "version": ".".join(str(x) for x in impl.version[:3]),
        "machine": getattr(impl, "_machine", ""),
    }
