"""The adversarial suite: a rogue board (rogue.py, test_rogue_board.py), a
kernel fed malformed requests and odd arguments (test_kernel_hostile.py),
broken settings, devices, secrets and store files and fuzzed adverts
(test_broken_files.py), interrupts at random moments of transfers
(test_interrupts.py), and printed data that must never decide what the host
does: %mount requests (test_mount_trust.py), board-test results
(test_forged_results.py), floods (test_floods.py), a CircuitPython board
claiming another's drive (test_foreign_drive.py), %flash targets
(test_flash_targets.py) and WiFi advertisements (test_advert_trust.py).
A hostile micropython-lib index served on 127.0.0.1 is in
tests/kernel/test_packages.py."""
