/* ARM semihosting calls (the "Semihosting for AArch32 and AArch64" spec, version 2). */
#include "semihosting.h"

#include <string.h>

enum {
  SYS_OPEN = 0x01,
  SYS_CLOSE = 0x02,
  SYS_WRITE0 = 0x04,
  SYS_WRITE = 0x05,
  SYS_READ = 0x06,
  SYS_FLEN = 0x0C,
  SYS_GET_CMDLINE = 0x15,
  SYS_EXIT_EXTENDED = 0x20
};

#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define OPEN_MODE_RB 1 /* fopen mode index of "rb" */
#define OPEN_MODE_WB 5 /* fopen mode index of "wb": create or truncate */

/* Set by the fault handler; read before every call so a board without semihosting pays one
 * fault, not one per call. */
static volatile int absent;

int semihost_available(void) { return !absent; }

void semihost_mark_absent(void) { absent = 1; }

static int call(uint32_t operation, const void *argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  if (absent) return -1;
  /* "memory": the host reads and writes the blocks r1 points at. */
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return (int)r0;
}

int semihost_open_read(const char *path) {
  const uint32_t block[3] = {(uint32_t)(uintptr_t)path, OPEN_MODE_RB, (uint32_t)strlen(path)};
  return call(SYS_OPEN, block);
}

int semihost_open_write(const char *path) {
  const uint32_t block[3] = {(uint32_t)(uintptr_t)path, OPEN_MODE_WB, (uint32_t)strlen(path)};
  return call(SYS_OPEN, block);
}

int semihost_read(int handle, void *buffer, size_t length) {
  const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buffer, (uint32_t)length};
  const int not_read = call(SYS_READ, block);
  /* SYS_READ returns how many bytes it did NOT read. */
  if (not_read < 0 || (size_t)not_read > length) return -1;
  return (int)(length - (size_t)not_read);
}

int semihost_write(int handle, const void *data, size_t length) {
  const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, (uint32_t)length};
  /* SYS_WRITE returns how many bytes it did NOT write. */
  return call(SYS_WRITE, block) == 0 ? 0 : -1;
}

long semihost_file_length(int handle) {
  const uint32_t block[1] = {(uint32_t)handle};
  return (long)call(SYS_FLEN, block);
}

void semihost_close(int handle) {
  const uint32_t block[1] = {(uint32_t)handle};
  (void)call(SYS_CLOSE, block);
}

int semihost_command_line(char *buffer, size_t capacity) {
  uint32_t block[2] = {(uint32_t)(uintptr_t)buffer, (uint32_t)capacity};
  if (capacity == 0 || call(SYS_GET_CMDLINE, block) != 0) return -1;
  if (block[1] >= capacity) return -1;
  buffer[block[1]] = '\0';
  return (int)block[1];
}

void semihost_write0(const char *text) { (void)call(SYS_WRITE0, text); }

void semihost_exit(int status) {
  const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
  (void)call(SYS_EXIT_EXTENDED, block);
}
