"""`tinyml bench`: what one model costs on the target, measured, and checked against TFLM.

For one .tflite (or models/<name>) it builds a QEMU image holding just that model twice (the
Cortex-M4 DSP paths on and off), runs seeded random int8 inputs through the image's batch
mode with every layer profiled, requires every output to equal TFLite Micro's, and reports the
instructions per inference and per layer, per MAC and against the dual-MAC lower bound, the
flash split (runtime code, plan, weights) read from the linker map, and the RAM (plan arena
and measured stack) against TFLM's arena. `--target host` does the same on the native build,
timed in nanoseconds.

Modules: model (what to bench), macs (MACs per op), image (convert and build), fit (whether the
QEMU image fits its RAM, before any build), arena (TFLM's arena, measured crash-proof), linkmap
and flash (who owns each flash byte), measure (run and check), machine (what it ran on), report
(the figures as JSON and as a table), why (a reason per layer above the goal of
instructions per MAC), bench (the whole command).
"""
