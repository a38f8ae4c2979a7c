/* Batch runs: the inferences of the protocol's INFER, read from and written to files instead of
 * travelling over a serial link. One implementation for the two CMake ports: the QEMU image
 * reaches the files through semihosting (boards/qemu_mps2_an386/batch.c; tools/qemu_batch.py
 * runs it, so that a run takes what QEMU needs to execute the inferences themselves), the host
 * through stdio (boards/host/bench_model.c, `tinyml-bench DIR`, behind `tinyml bench --target
 * host`). A port supplies the file access and, if it can, a stack measurement
 * (tinyml_batch_port); the cost is its board_cycles().
 *
 * Files, little-endian:
 *   DIR/batch_inputs.bin   "TMLBAT1\0", u16 model index, u16 flags, u32 sample count, u32 input
 *                          bytes per sample (the model's input tensor bytes), then the samples,
 *                          back to back. Flags: TINYML_BATCH_PROFILE_LAYERS; other bits must be
 *                          0.
 *   DIR/batch_outputs.bin  "TMLOUT1\0", u32 sample count, u32 output bytes per sample, u32
 *                          record bytes, then one record per sample:
 *                            the output tensor bytes,
 *                            u32 cost (board_cycles() counts: instructions on QEMU,
 *                                nanoseconds on the host),
 *                            u32 micros (board_micros(): virtual microseconds on QEMU),
 *                            u32 stack high-water mark: the deepest stack use of the run up to
 *                                and including this sample's invoke, start-up included (bytes),
 *                            u32 invoke stack: the deepest stack this sample's invoke used
 *                                below its call (bytes; the stack is repainted before it),
 *                                both stack fields TINYML_BATCH_NOT_MEASURED from a port that
 *                                cannot measure its stack (the host),
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
 * costs the same here as over the protocol, profiled or not: the profile (layer_profile.h) runs
 * outside it, the empty invoke before it and the layers after it. On QEMU the input and output
 * sit at INFER's alignments too (batch_file.c), so the counts are INFER's to the instruction. */
#ifndef BOARD_COMMON_BATCH_FILE_H
#define BOARD_COMMON_BATCH_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TINYML_BATCH_INPUTS_NAME "batch_inputs.bin"
#define TINYML_BATCH_OUTPUTS_NAME "batch_outputs.bin"
#define TINYML_BATCH_INPUT_HEADER_BYTES 20u
#define TINYML_BATCH_OUTPUT_HEADER_BYTES 20u
/* u32 cost, micros, stack high-water, invoke stack, layer count L and empty invoke after the
 * output tensor; then L u32 layer costs. */
#define TINYML_BATCH_RECORD_TRAILER_BYTES 24u
/* The input header's flags: price every layer of every sample too (layer_profile.h). */
#define TINYML_BATCH_PROFILE_LAYERS 0x0001u
/* What a stack field holds when the port cannot measure its stack. */
#define TINYML_BATCH_NOT_MEASURED 0xFFFFFFFFu

/* Exit status of a batch that could not run (a bad or missing file, an unknown model, a wrong
 * input size, a failed invoke); the port's report() got a one-line reason. */
#define TINYML_BATCH_EXIT_ERROR 2

/* What a port provides: how it reaches the files and, optionally, its stack. */
typedef struct {
  /* Opens `path` for binary reading (for_writing 0) or writing (1: created or truncated);
   * returns the port's handle, or NULL. At most two files are open at once. */
  void *(*open)(const char *path, int for_writing);
  /* Reads exactly `length` bytes: 0, or -1 on a short read or an error. */
  int (*read)(void *file, void *buffer, size_t length);
  /* Writes all `length` bytes: 0, or -1. */
  int (*write)(void *file, const void *data, size_t length);
  /* The whole file's length in bytes, or -1 when it cannot say. */
  long (*length)(void *file);
  /* 0, or -1 when data written earlier did not reach the file (a buffered write failed). */
  int (*close)(void *file);
  /* Sends a NUL-terminated line of error text (it ends in "\n"). */
  void (*report)(const char *line);
  /* The stack measurement, all three or none (NULL): the deepest use since the last repaint
   * (bytes), paint the unused stack again, the bytes in use at the caller. */
  uint32_t (*stack_high_water)(void);
  void (*stack_repaint)(void);
  uint32_t (*stack_depth)(void);
} tinyml_batch_port;

/* Runs the batch in `directory` (DIR above) on `device`'s backend, which must be the built-in
 * one when the file asks for the profile. batch_outputs.bin is created only once
 * batch_inputs.bin has passed its checks. Returns 0, or TINYML_BATCH_EXIT_ERROR after
 * reporting why. */
int tinyml_batch_run(tinyml_device *device, const tinyml_batch_port *port,
                     const char *directory);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_COMMON_BATCH_FILE_H */
