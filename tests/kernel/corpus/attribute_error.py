# An AttributeError, uncaught
x = 5
print(x.real)
x.no_such_attribute
