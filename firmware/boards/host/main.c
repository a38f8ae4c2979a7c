/* The host port: the portable core built natively, speaking the protocol over stdin and stdout
 * or over a pty. Tests drive it; `tinyml emulate --target host` runs it.
 *
 *   tinyml-host [--pty] [--imu FILE [--imu-paced]]
 *
 * --pty        create a pseudo-terminal, print "pty PATH" on stdout and serve it until killed
 * --imu FILE   replay a recorded IMU stream (format in firmware/README.md) for the live and
 *              capture modes; samples come as fast as asked unless --imu-paced
 *
 * TINYML_TAMPER_LAYER=MODEL:LAYER in the environment perturbs that layer's output (a test
 * double: tampering_backend.h). */
#define _DEFAULT_SOURCE /* posix_openpt, ptsname, cfmakeraw */
#define _XOPEN_SOURCE 600

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "board.h"
#include "board_host.h"
#include "firmware_version.h"
#include "tinyml/builtin_backend.h"
#include "tinyml/device.h"
#include "tinyml_models.h"
#include "tampering_backend.h"

static unsigned char arena[TINYML_BUILTIN_ARENA_BYTES]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));
static tinyml_device device;

static volatile sig_atomic_t stop_requested;

static void request_stop(int signal_number) {
  (void)signal_number;
  stop_requested = 1;
}

/* A raw pty: no echo, no line editing, no CR/LF translation, so frames pass untouched. */
static int open_pty(void) {
  struct termios raw;
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  int slave;
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return -1;
  slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  if (slave < 0 || tcgetattr(slave, &raw) != 0) return -1;
  cfmakeraw(&raw);
  if (tcsetattr(slave, TCSANOW, &raw) != 0) return -1;
  close(slave);
  return master;
}

static int usage(const char *program) {
  fprintf(stderr, "usage: %s [--pty] [--imu FILE [--imu-paced]]\n", program);
  return 2;
}

int main(int argc, char **argv) {
  board_host_options options = {0, 1, 0, NULL, 0};
  tinyml_builtin_context context;
  tinyml_backend backend;
  static tampering_context tampering;
  const char *tamper = getenv("TINYML_TAMPER_LAYER");
  int use_pty = 0;
  int index;
  for (index = 1; index < argc; ++index) {
    if (strcmp(argv[index], "--pty") == 0) {
      use_pty = 1;
    } else if (strcmp(argv[index], "--imu") == 0 && index + 1 < argc) {
      options.imu_path = argv[++index];
    } else if (strcmp(argv[index], "--imu-paced") == 0) {
      options.imu_paced = 1;
    } else {
      return usage(argv[0]);
    }
  }
  if (use_pty) {
    int master = open_pty();
    if (master < 0) {
      perror("tinyml-host: cannot create a pty");
      return 1;
    }
    options.serial_in = options.serial_out = master;
    options.serial_is_pty = 1;
    printf("pty %s\n", ptsname(master));
    fflush(stdout);
  }
  signal(SIGINT, request_stop);
  signal(SIGTERM, request_stop);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error instead */
  board_host_configure(&options);
  board_init();
  if (tinyml_builtin_backend_init(&backend, &context, tinyml_builtin_models, TINYML_MODEL_COUNT,
                                  arena, sizeof arena) != 0) {
    fprintf(stderr, "tinyml-host: the arena does not fit the models\n");
    return 1;
  }
  if (tamper != NULL && *tamper != '\0') {
    tinyml_backend builtin = backend;
    if (tampering_backend_init(&backend, &tampering, &builtin, &context, tamper) != 0) {
      fprintf(stderr, "tinyml-host: TINYML_TAMPER_LAYER=%s is not MODEL:LAYER of this build\n",
              tamper);
      return 2;
    }
  }
  tinyml_device_init(&device, &backend, TINYML_FIRMWARE_VERSION);
  while (!stop_requested && tinyml_device_poll(&device) == 0) {
  }
  return 0;
}
