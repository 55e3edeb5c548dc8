# print's sep and end
print("a", "b", "c", sep="-")
print("no newline", end="")
print(" then this")
print("x", end="\n\n")
print(*range(5), sep=", ")
print()
print("after an empty line")
