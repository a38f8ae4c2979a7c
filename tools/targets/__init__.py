"""The firmware's build targets, one module each: cmake (the host and QEMU ports),
platformio (the board environments of a platformio.ini). tools/firmware.py picks between them."""
