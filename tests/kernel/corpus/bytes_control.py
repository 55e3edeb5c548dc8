# Bytes and control characters, printed raw and as repr
print("a\x00b", len("a\x00b"))
print(repr(b"\x00\x01\x02\x7f\xff"))
print(b"abc\x00def")
print("bell\x07 back\bspace vt\x0b ff\x0c end")
print(bytes([0, 65, 10, 200]))
print(bytearray(b"xy") + b"\x00")
print(repr("\x1b[0m"))
