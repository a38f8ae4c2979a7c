/* ARM semihosting (QEMU: -semihosting-config enable=on,target=native): the host's files and
 * exit status, reached through `bkpt 0xab`.
 *
 * Without semihosting enabled the BKPT would be a HardFault; startup.c recognizes that case,
 * makes the call return -1 and marks semihosting absent, so every function here then fails
 * cleanly instead of taking the firmware down. */
#ifndef QEMU_SEMIHOSTING_H
#define QEMU_SEMIHOSTING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 once a call has returned normally or before any call; 0 after one faulted. */
int semihost_available(void);

/* Called by the fault handler when a semihosting BKPT trapped. */
void semihost_mark_absent(void);

/* Opens a host file for binary reading; returns a handle, or -1. */
int semihost_open_read(const char *path);

/* Opens (creates or truncates) a host file for binary writing; returns a handle, or -1. */
int semihost_open_write(const char *path);

/* Reads up to `length` bytes; returns the number read (0 at end of file), or -1. */
int semihost_read(int handle, void *buffer, size_t length);

/* Writes all `length` bytes; returns 0, or -1 when the host wrote fewer. */
int semihost_write(int handle, const void *data, size_t length);

/* The file's length in bytes, or -1 (a 32-bit call: files under 2 GiB). */
long semihost_file_length(int handle);

void semihost_close(int handle);

/* The command line QEMU hands the program (-semihosting-config ...,arg=A,arg=B joined by
 * spaces, else the kernel file name and -append). Returns its length, or -1. */
int semihost_command_line(char *buffer, size_t capacity);

/* Writes a NUL-terminated string to QEMU's stderr (the debug console). */
void semihost_write0(const char *text);

/* Ends QEMU with exit status `status` (0-255; SYS_EXIT_EXTENDED, which QEMU implements for
 * AArch32 too). Returns only when semihosting is absent. */
void semihost_exit(int status);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_SEMIHOSTING_H */
