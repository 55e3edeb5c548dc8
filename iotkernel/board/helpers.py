# Device-side helpers of IoT Kernel (MicroPython source, sent to the board).
#
# Executed once per interpreter session with exec() into a private dict kept
# in sys.modules['__iotk'], so nothing here touches the user's globals. The
# host calls them as __import__('sys').modules['__iotk'][NAME](...).
# Replies are JSON on stdout after a '\x1e' marker, the last line printed.
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


def put(v):
    import json

    print(MARK + json.dumps(conv(v)))


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
    put(
        {
            "uid": binascii.hexlify(uid).decode() if uid else None,
            "platform": sys.platform,
            "implementation": impl.name,
            "version": ".".join(str(x) for x in impl.version[:3]),
            "machine": getattr(impl, "_machine", ""),
        }
    )
