"""The adversarial suite: a rogue board (rogue.py, test_rogue_board.py), a
kernel fed malformed requests and odd arguments (test_kernel_hostile.py),
broken settings, devices, secrets and store files and fuzzed adverts
(test_broken_files.py), and interrupts at random moments of transfers
(test_interrupts.py). A hostile micropython-lib index served on 127.0.0.1 is
in tests/kernel/test_packages.py."""
