// board.h for the Arduino Nano 33 BLE Sense (nRF52840, Cortex-M4F at 64 MHz) on the Arduino mbed
// core: the serial link, time, the DWT cycle counter and the board's identity. The IMU functions
// are in board_imu.cpp.
#include <Arduino.h>

#include "board.h"
#include "cmsis.h"  // DWT and CoreDebug (mbed OS's device header for the nRF52840)
#include "imu_sensor.h"

// The link: USB CDC (`Serial`) by default. The Renode build uses the UART (`Serial1`), since
// Renode models no USB device.
#ifndef TINYML_SERIAL
#define TINYML_SERIAL Serial
#endif

// USB CDC ignores the baud rate; a UART uses it, so builds that pick Serial1 set it too.
#ifndef TINYML_SERIAL_BAUD
#define TINYML_SERIAL_BAUD 1000000
#endif

namespace {

constexpr uint32_t kCoreHz = 64000000;

board_identity_t identity;  // filled in by board_init, field by field

}  // namespace

void board_init(void) {
  TINYML_SERIAL.begin(TINYML_SERIAL_BAUD);

  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;  // powers the DWT unit
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;

  identity.board = imu_sensor_board_name;
  identity.cost_unit = "cycles";
  identity.cost_hz = kCoreHz;  // DWT CYCCNT counts core clock cycles
  identity.cpu_hz = kCoreHz;
  // Ask the sensor once, so that hello tells the truth when the build's revision is not the
  // board's (the other IMU does not answer).
  identity.has_imu = imu_sensor_begin() ? 1 : 0;
  if (identity.has_imu) imu_sensor_end();
}

int board_serial_read(uint8_t *buffer, size_t capacity) {
  size_t count = 0;
  while (count < capacity && TINYML_SERIAL.available() > 0) {
    int value = TINYML_SERIAL.read();
    if (value < 0) break;
    buffer[count++] = (uint8_t)value;
  }
  return (int)count;
}

void board_serial_write(const uint8_t *data, size_t length) {
  while (length > 0) {
    size_t written = TINYML_SERIAL.write(data, length);
    // 0: no USB host is listening and the core dropped the bytes; nobody will read the rest.
    if (written == 0 || written >= length) return;
    data += written;
    length -= written;
  }
}

uint32_t board_micros(void) { return (uint32_t)micros(); }

uint32_t board_cycles(void) { return DWT->CYCCNT; }

const board_identity_t *board_identity(void) { return &identity; }
