/* Options of the host port, set by main.c before board_init(). */
#ifndef BOARD_HOST_H
#define BOARD_HOST_H

typedef struct {
  int serial_in;        /* file descriptors of the serial link */
  int serial_out;
  int serial_is_pty;    /* a closed client (EIO) means wait for the next one, not exit */
  const char *imu_path; /* replay file (docs: firmware/README.md), or NULL for no IMU */
  int imu_paced;        /* hand out samples at the file's rate instead of at once */
} board_host_options;

void board_host_configure(const board_host_options *options);

#endif /* BOARD_HOST_H */
