"""A tiny module the tour installs on the board with %rsync."""


def hello(name="world"):
    return "hello, " + name + ", from the board"
