# IoT Kernel board-side advertiser (MicroPython). Copy it to the board and run:
#
#     import advertise
#     advertise.start()                 # in the background, once a second
#
# It sends UDP datagrams "URL\nUID" (ASCII) to the broadcast address, port
# 50000, so `%discover` lists this board's WebREPL URL. It sends no password
# and accepts nothing: an advertisement only says "I am here".
import socket
import time


def board_url(port=8266):
    import network

    ip = network.WLAN(network.STA_IF).ifconfig()[0]
    return "ws://%s:%d" % (ip, port)


def board_uid():
    import binascii
    import machine

    return binascii.hexlify(machine.unique_id()).decode()


def advertise(url=None, uid=None, host="255.255.255.255", port=50000, interval=1.0, count=None):
    """Send advertisements every `interval` seconds (`count` times, or forever)."""
    message = ("%s\n%s" % (url or board_url(), uid or board_uid())).encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    except (AttributeError, OSError):
        pass
    address = socket.getaddrinfo(host, port)[0][-1]
    sent = 0
    try:
        while count is None or sent < count:
            try:
                s.sendto(message, address)
            except OSError:
                pass  # the network may be down for a moment: try again later
            sent += 1
            if count is None or sent < count:
                time.sleep(interval)
    finally:
        s.close()
    return sent


def start(**options):
    """Advertise from a background thread (where the port has threads)."""
    import _thread

    _thread.start_new_thread(lambda: advertise(**options), ())
