/* Batch mode of the QEMU image: the inferences of the protocol's INFER, read from and written
 * to host files through semihosting instead of travelling over UART0, whose emulated link
 * carries only about 25 KiB/s. What a batch run takes is then what QEMU needs to execute the
 * inferences themselves (tools/qemu_batch.py runs it; benchmarks/qemu_floor.py times it).
 *
 * Asked for on the semihosting command line: " batch=DIR" (tools/qemu.py passes
 * `arg=batch=DIR`); the rest of the line is the directory, spaces included, as with " imu=".
 *
 * Files, little-endian:
 *   DIR/batch_inputs.bin   "TMLBAT1\0", u16 model index, u16 flags, u32 sample count, u32 input
 *                          bytes per sample (the model's input tensor bytes), then the samples,
 *                          back to back. Flags: QEMU_BATCH_PROFILE_LAYERS; other bits must be 0.
 *   DIR/batch_outputs.bin  "TMLOUT1\0", u32 sample count, u32 output bytes per sample, u32
 *                          record bytes, then one record per sample:
 *                            the output tensor bytes,
 *                            u32 cost (board_cycles() counts: instructions),
 *                            u32 micros (virtual microseconds),
 *                            u32 stack high-water mark: the deepest stack use of the run up to
 *                                and including this sample's invoke, start-up included (bytes),
 *                            u32 invoke stack: the deepest stack this sample's invoke used
 *                                below its call (bytes; the stack is repainted before it),
 *                            u32 L, the number of per-layer costs that follow (0 unless
 *                                profiled; then the plan's layer count),
 *                            u32 empty invoke: the cost of the same measured invoke on a copy
 *                                of the plan whose layers all run an empty kernel (0 unless
 *                                profiled),
 *                            L x u32 layer costs.
 *                          A reader steps by the record bytes, so fields can be appended to a
 *                          record later without breaking it.
 *
 * Cost and micros are measured by tinyml_device_invoke(), the function INFER uses, so a sample
 * costs the same here as over the protocol, profiled or not: the profile runs after it.
 *
 * The profile (tools/bench): after the measured invoke, the sample's input is copied into the
 * arena again and each layer i runs alone, tinyml_plan_run_layers(plan, arena, i, i + 1),
 * between two board_cycles() readings; the same span around the empty kernel is subtracted. A
 * layer's cost is thus its kernel's instructions beyond an empty kernel's, and the empty invoke
 * holds everything else (checks, input and output copies, the layer loop, the readings), so
 * cost = empty invoke + the sum of the layer costs, to the instruction. */
#ifndef QEMU_BATCH_H
#define QEMU_BATCH_H

#include "tinyml/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QEMU_BATCH_INPUTS_NAME "batch_inputs.bin"
#define QEMU_BATCH_OUTPUTS_NAME "batch_outputs.bin"
#define QEMU_BATCH_INPUT_HEADER_BYTES 20u
#define QEMU_BATCH_OUTPUT_HEADER_BYTES 20u
/* The input header's flags: time every layer of every sample too (see above). */
#define QEMU_BATCH_PROFILE_LAYERS 0x0001u

/* Exit status of a batch that could not run (a bad or missing file, an unknown model, a wrong
 * input size, a failed invoke); a one-line reason goes to semihosting's stderr. */
#define QEMU_BATCH_EXIT_ERROR 2

/* The batch directory from the semihosting command line, or NULL when batch mode was not
 * asked for (or semihosting is off). */
const char *qemu_batch_directory(void);

/* Runs the batch in `directory` on `device`'s backend. Returns the exit status for QEMU: 0, or
 * QEMU_BATCH_EXIT_ERROR after reporting why. */
int qemu_batch_run(tinyml_device *device, const char *directory);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_BATCH_H */
