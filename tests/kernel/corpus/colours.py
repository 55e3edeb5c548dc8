# ANSI colours, as logging libraries print them
RED, GREEN, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"
print(RED + "error" + RESET, GREEN + "ok" + RESET)
print(BOLD + RED + "bold red" + RESET)
print("\x1b[38;5;208morange\x1b[m and \x1b[1;4mbold underline\x1b[0m")
for level, colour in (("DEBUG", 36), ("INFO", 32), ("WARN", 33)):
    print("\x1b[%dm%-5s\x1b[0m message" % (colour, level))
