/* Batch mode through semihosting: see batch.h. The batch itself is ../common/batch_file.c. */
#include "batch.h"

#include <stddef.h>
#include <string.h>

#include "semihosting.h"
#include "startup.h"

#define BATCH_KEY " batch="

/* The shared code holds files as pointers, semihosting names them by small integers: each open
 * file's handle sits in one of these slots (a batch has two open at most). */
#define FILE_SLOTS 2

/* In .bss, not on the 8 KiB stack. */
static struct {
  char command_line[512];
  int handles[FILE_SLOTS];
  int in_use[FILE_SLOTS];
} batch;

const char *qemu_batch_directory(void) {
  const size_t key_length = sizeof BATCH_KEY - 1;
  const char *at;
  if (semihost_command_line(batch.command_line, sizeof batch.command_line) < 0) return NULL;
  /* A plain scan, as board_qemu.c does for " imu=": newlib's strstr is a kilobyte. */
  for (at = batch.command_line; *at != '\0'; ++at) {
    if (strncmp(at, BATCH_KEY, key_length) == 0 && at[key_length] != '\0') {
      return at + key_length;
    }
  }
  return NULL;
}

/* ---- tinyml_batch_port over semihosting --------------------------------------------------- */

static void *open_file(const char *path, int for_writing) {
  int slot = 0, handle;
  while (slot < FILE_SLOTS && batch.in_use[slot]) ++slot;
  if (slot == FILE_SLOTS) return NULL;
  handle = for_writing ? semihost_open_write(path) : semihost_open_read(path);
  if (handle < 0) return NULL;
  batch.handles[slot] = handle;
  batch.in_use[slot] = 1;
  return &batch.handles[slot];
}

static int read_file(void *file, void *buffer, size_t length) {
  return semihost_read(*(const int *)file, buffer, length) == (int)length ? 0 : -1;
}

static int write_file(void *file, const void *data, size_t length) {
  return semihost_write(*(const int *)file, data, length);
}

static long file_length(void *file) { return semihost_file_length(*(const int *)file); }

/* SYS_WRITE is unbuffered: nothing can fail late. */
static int close_file(void *file) {
  int *handle = file;
  semihost_close(*handle);
  batch.in_use[handle - batch.handles] = 0;
  return 0;
}

static const tinyml_batch_port semihosting_port = {
    .open = open_file,
    .read = read_file,
    .write = write_file,
    .length = file_length,
    .close = close_file,
    .report = semihost_write0, /* QEMU's stderr, where tools/qemu_batch.py looks */
    .stack_high_water = qemu_stack_high_water,
    .stack_repaint = qemu_stack_repaint,
    .stack_depth = qemu_stack_depth,
};

int qemu_batch_run(tinyml_device *device, const char *directory) {
  return tinyml_batch_run(device, &semihosting_port, directory);
}
