/* The host's batch runner, for `tinyml bench --target host`: the QEMU image's batch mode
 * (../common/batch_file.h, the same files, checks and per-layer profile) on the native build.
 *
 *   tinyml-bench DIR      reads DIR/batch_inputs.bin, writes DIR/batch_outputs.bin
 *
 * What is the host's own: the files through stdio, and the cost, board_host.c's board_cycles():
 * wall-clock nanoseconds (CLOCK_MONOTONIC), not instructions, so the figures vary run to run.
 * There is no stack measurement here: both stack fields hold TINYML_BATCH_NOT_MEASURED. */
#include <stdio.h>

#include "batch_file.h"
#include "board.h"
#include "firmware_version.h"
#include "tinyml/builtin_backend.h"
#include "tinyml/device.h"
#include "tinyml_models.h"

static unsigned char arena[TINYML_BUILTIN_ARENA_BYTES]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));
static tinyml_builtin_context context;
static tinyml_backend backend;
static tinyml_device device;

/* ---- tinyml_batch_port over stdio --------------------------------------------------------- */

static void *open_file(const char *path, int for_writing) {
  return fopen(path, for_writing ? "wb" : "rb");
}

static int read_file(void *file, void *buffer, size_t length) {
  return fread(buffer, 1, length, file) == length ? 0 : -1;
}

static int write_file(void *file, const void *data, size_t length) {
  return fwrite(data, 1, length, file) == length ? 0 : -1;
}

/* From the current position to the end and back: the check reads it after the header. */
static long file_length(void *file) {
  const long here = ftell(file);
  long length;
  if (here < 0 || fseek(file, 0, SEEK_END) != 0) return -1;
  length = ftell(file);
  return fseek(file, here, SEEK_SET) == 0 ? length : -1;
}

/* fclose flushes: a write that failed in the buffer shows up here. */
static int close_file(void *file) { return fclose(file) == 0 ? 0 : -1; }

static void report(const char *line) { fputs(line, stderr); }

static const tinyml_batch_port stdio_port = {
    .open = open_file,
    .read = read_file,
    .write = write_file,
    .length = file_length,
    .close = close_file,
    .report = report, /* the last line of stderr is what tools/bench/measure.py shows */
    /* no stack measurement: the stack hooks stay NULL */
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR (holding %s)\n", argv[0], TINYML_BATCH_INPUTS_NAME);
    return TINYML_BATCH_EXIT_ERROR;
  }
  board_init();
  if (tinyml_builtin_backend_init(&backend, &context, tinyml_builtin_models, TINYML_MODEL_COUNT,
                                  arena, sizeof arena) != 0) {
    fputs("batch: the arena is too small or misaligned for a model\n", stderr);
    return TINYML_BATCH_EXIT_ERROR;
  }
  tinyml_device_init(&device, &backend, TINYML_FIRMWARE_VERSION);
  return tinyml_batch_run(&device, &stdio_port, argv[1]);
}
