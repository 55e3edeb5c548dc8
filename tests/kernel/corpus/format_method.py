# str.format and f-strings
print("{} {}".format("a", "b"))
print("{1} {0} {1}".format("x", "y"))
print("{:>8}|{:<8}|{:^8}|".format("r", "l", "c"))
print("{:08.3f} {:+d} {:,}".format(3.14159, 5, 1234567))
print("{:x} {:b} {:o}".format(255, 5, 8))
name, value = "width", 7
print(f"{name}={value} {value * 6} {name!r} {value:>4}")
print(f"{'nested'} {{braces}} {[1, 2][1]}")
