/* Batch mode of the QEMU image: the inferences of the protocol's INFER, read from and written
 * to host files through semihosting instead of travelling over UART0, whose emulated link
 * carries only about 25 KiB/s. What a batch run takes is then what QEMU needs to execute the
 * inferences themselves (tools/qemu_batch.py runs it; benchmarks/qemu_floor.py times it).
 *
 * Asked for on the semihosting command line: " batch=DIR" (tools/qemu.py passes
 * `arg=batch=DIR`); the rest of the line is the directory, spaces included, as with " imu=".
 *
 * Files, little-endian:
 *   DIR/batch_inputs.bin   "TMLBAT1\0", u16 model index, u16 reserved (0), u32 sample count,
 *                          u32 input bytes per sample (the model's input tensor bytes), then
 *                          the samples, back to back.
 *   DIR/batch_outputs.bin  "TMLOUT1\0", u32 sample count, u32 output bytes per sample, u32
 *                          record bytes, then one record per sample: the output tensor bytes,
 *                          u32 cost (board_cycles() counts: instructions), u32 micros (virtual
 *                          microseconds). A reader steps by the record bytes, so fields can be
 *                          appended to a record later without breaking it.
 *
 * Cost and micros are measured by tinyml_device_invoke(), the function INFER uses, so a sample
 * costs the same here as over the protocol. */
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
