"""The bytes of the MicroPython REPL protocol, and the limits the engine keeps.

Facts from MicroPython's docs/reference/repl.rst and shared/runtime/pyexec.c.
"""

CTRL_A = b"\x01"
CTRL_B = b"\x02"
CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_E = b"\x05"

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
# What firmware prints when SystemExit ends code in the raw REPL: it soft
# resets, then prints the raw banner again.
SOFT_REBOOT = b"MPY: soft reboot"
FRIENDLY_PROMPT = b">>> "
# A firmware older than raw-paste (v1.14) treats Ctrl-A as "reset raw REPL",
# so the answer to the paste request is the banner again.
LEGACY_PASTE_ANSWER = RAW_BANNER
# Source up to this size goes by classic raw REPL: one write, no negotiation
# round trip. Bigger source uses raw-paste so the device never has to hold more
# than a window of it (classic raw has no flow control and drops bytes on UARTs).
CLASSIC_LIMIT = 256
# A lost `\x05` or `A` of the raw-paste request makes any firmware answer as
# one older than raw-paste does (the raw banner again): the request is asked
# this many times before classic raw mode is chosen for this session.
PASTE_REQUEST_ATTEMPTS = 2
# When the board proved raw-paste in this session, a banner answer can only be
# a lost byte: asked again this many times, then a protocol error.
PASTE_REQUEST_RETRIES_PROVEN = 3
