// The IMU driver of the board revision this build is for (imu_sensor.cpp: Rev1, the default, or
// Rev2 with -DTINYML_IMU_BMI270). It wraps the Arduino library for the sensor and
// reports raw library units; board_imu.cpp paces the samples and converts the units.
#ifndef TINYML_NANO33BLE_IMU_SENSOR_H
#define TINYML_NANO33BLE_IMU_SENSOR_H

#include <stdint.h>

// The board name hello reports: "nano33ble-rev1" or "nano33ble-rev2".
extern const char *const imu_sensor_board_name;

// Powers the sensor up; false when it does not answer (e.g. a Rev1 build on a Rev2 board).
bool imu_sensor_begin();
void imu_sensor_end();

// The rate the sensor produces new readings at, as the library configures it.
uint32_t imu_sensor_rate_hz();

// True when a reading newer than the last one read is waiting.
bool imu_sensor_acceleration_ready();
bool imu_sensor_rotation_ready();

// The latest reading; false when the sensor did not answer. Acceleration in g, rotation in
// degrees per second, as the libraries report them.
bool imu_sensor_read_acceleration(float g[3]);
bool imu_sensor_read_rotation(float dps[3]);

#endif
