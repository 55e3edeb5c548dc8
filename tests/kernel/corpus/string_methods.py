# String methods
s = "  Hello, World  "
print(repr(s.strip()), repr(s.lstrip()), repr(s.rstrip()))
print(s.strip().lower(), s.strip().upper())
print("a,b,,c".split(","), "a b  c".split(), "k=v=w".split("=", 1))
print("-".join(["x", "y", "z"]), "abc".replace("b", "BB"))
print("hello".startswith("he"), "hello".endswith("lo"), "hello".find("l"), "hello".count("l"))
print("42".isdigit(), "ab".isalpha(), " ".isspace(), "Title".istitle() if hasattr("", "istitle") else True)
print("abc" * 3, "x".center(5, "*") if hasattr("", "center") else "**x**")
