# bytearray and memoryview
b = bytearray(b"hello")
b[0] = ord("j")
print(b, len(b), b[1:3])
m = memoryview(b)
print(bytes(m[1:4]), m[0])
b.extend(b"!!")
print(b.decode())
print(bytes(3), bytearray(2))
