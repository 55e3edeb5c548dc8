# %-formatting, the forms MicroPython supports
print("%d items" % 3)
print("%5d|%-5d|%05d" % (42, 42, 42))
print("%x %X %o" % (255, 255, 8))
print("%s and %r" % ("text", "text"))
print("%.3f %10.2f %-8.1f|" % (3.14159, 2.5, -1.25))
print("%c%c" % (72, "i"))
print("100%% sure")
print("%(name)s is %(age)d" % {"name": "Ada", "age": 36})
