# Integers: big numbers, bases, division
print(2 ** 100)
print(-7 // 2, -7 % 2, 7 // -2, divmod(17, 5))
print(int("ff", 16), int("0b101", 0), int("  42  "))
print(hex(255), bin(10), oct(64))
print(123456789 * 987654321)
print((1 << 70) >> 68, 0xFF & 0x0F, 5 ^ 3, ~5)
print(abs(-3), max(3, 9, 2), min([4, 1, 7]), sum(range(101)))
