# Unicode strings: length, slicing, encoding
s = "héllo wörld ✓ 😀"
print(s, len(s), len(s.encode()))
print(s[1], s[-1], s[6:11])
print(s.upper())
print("é".encode(), b"\xc3\xa9".decode())
print(repr("tab\there"), repr("nl\nhere"))
print("→".join(["a", "b", "c"]))
print(ord("€"), chr(8364), chr(0x1F600))
