# Floats as MicroPython formats them
print(1.5, 2.0, -0.25, 1e10, 1.5e-5)
print(round(2.675, 2), round(3.5), int(7.9))
print(10 / 4, 1 / 3)
print("%.2f" % (2 / 3), "{:.4f}".format(3.14159265))
print(float("3.25"), float(2))
