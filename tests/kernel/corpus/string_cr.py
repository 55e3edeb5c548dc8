# a CR inside a string is a newline to the lexer (MicroPython test: string_cr_conversion)
print("ab")
x = 1print(x)
print("end")
