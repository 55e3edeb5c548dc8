# Tabs and odd whitespace in output
print("col1\tcol2\tcol3")
print("a\t\tb")
print("trailing spaces   ")
print("   leading")
print("\u00a0non-breaking\u2028line separator\u2029paragraph")
