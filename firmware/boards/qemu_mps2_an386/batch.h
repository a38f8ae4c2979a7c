/* Batch mode of the QEMU image: the inferences of the protocol's INFER, read from and written
 * to host files through semihosting instead of travelling over UART0, whose emulated link
 * carries only about 25 KiB/s. What a batch run takes is then what QEMU needs to execute the
 * inferences themselves (tools/qemu_batch.py runs it; benchmarks/qemu_floor.py times it).
 *
 * Asked for on the semihosting command line: " batch=DIR" (tools/qemu.py passes
 * `arg=batch=DIR`); the rest of the line is the directory, spaces included, as with " imu=".
 *
 * The file formats, the checks, the measured invoke and the per-layer profile are shared with
 * the host's batch runner: ../common/batch_file.h and ../common/layer_profile.h. This port adds
 * what is its own: the files through semihosting, costs in executed instructions
 * (board_cycles()), and the stack fields, measured by painting the stack (startup.h). */
#ifndef QEMU_BATCH_H
#define QEMU_BATCH_H

#include "batch_file.h"
#include "tinyml/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The batch directory from the semihosting command line, or NULL when batch mode was not
 * asked for (or semihosting is off). */
const char *qemu_batch_directory(void);

/* Runs the batch in `directory` on `device`'s backend. Returns the exit status for QEMU: 0, or
 * TINYML_BATCH_EXIT_ERROR after a one-line reason on semihosting's stderr. */
int qemu_batch_run(tinyml_device *device, const char *directory);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_BATCH_H */
