/* The QEMU mps2-an386 image: the built-in runtime with the generated models behind the serial
 * protocol on UART0, or, when the semihosting command line says " batch=DIR", the same
 * inferences on the files in DIR (batch.h), after which QEMU exits. */
#include <stdint.h>

#include "batch.h"
#include "board.h"
#include "firmware_version.h"
#include "startup.h"
#include "tinyml/builtin_backend.h"
#include "tinyml/device.h"
#include "tinyml_models.h"

static uint8_t arena[TINYML_BUILTIN_ARENA_BYTES]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));
static tinyml_builtin_context context;
static tinyml_backend backend;
static tinyml_device device;

int main(void) {
  const char *batch_directory;
  board_init();
  if (tinyml_builtin_backend_init(&backend, &context, tinyml_builtin_models, TINYML_MODEL_COUNT,
                                  arena, sizeof arena) != 0) {
    qemu_fatal("the arena is too small or misaligned for a model");
  }
  tinyml_device_init(&device, &backend, TINYML_FIRMWARE_VERSION);
  batch_directory = qemu_batch_directory();
  /* Returning ends QEMU with this status (reset_handler passes it to semihost_exit). */
  if (batch_directory != NULL) return qemu_batch_run(&device, batch_directory);
  for (;;) {
    /* A UART never closes, so poll never returns -1 here. */
    (void)tinyml_device_poll(&device);
    /* Live and capture modes poll the IMU replay; only an idle device may sleep. */
    if (device.mode == TINYML_MODE_IDLE) board_wait_for_serial();
  }
}
