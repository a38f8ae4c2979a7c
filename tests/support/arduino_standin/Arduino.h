// STAND-IN, NOT THE ARDUINO CORE. It only declares the part of the Arduino mbed core's API
// (arduino/ArduinoCore-mbed 4.x, as PlatformIO's framework-arduino-mbed packages it) that
// firmware/src/ uses, so that tests/test_firmware_nano33ble.py can compile the glue with
// -fsyntax-only and catch typos and signature drift. The real core was not available on the
// machine these tests run on. Nothing here runs.
//
// What it mirrors: cores/arduino/Arduino.h (Serial and Serial1 are macros naming arduino::UART
// objects; on the Nano 33 BLE, Serial is the USB CDC port; an abs() macro), cores/arduino/Serial.h
// (class UART), and ArduinoCore-API's api/Common.h (time functions, setup() and loop() with C
// linkage, and the global names `byte`, `word` and PI that a sketch's own names can collide with).
#ifndef TINYML_TEST_ARDUINO_STANDIN_ARDUINO_H
#define TINYML_TEST_ARDUINO_STANDIN_ARDUINO_H

#include <stddef.h>
#include <stdint.h>

namespace arduino {

class UART {
 public:
  void begin(unsigned long baudrate);
  int available(void);
  int read(void);
  void flush(void);
  size_t write(uint8_t c);
  size_t write(const uint8_t *buffer, size_t size);
  operator bool();
};

}  // namespace arduino

using namespace arduino;

extern arduino::UART _UART1_;
extern arduino::UART _UART_USB_;

// As in the core for boards with SERIAL_CDC (the Nano 33 BLE): Serial is USB, Serial1 the UART.
#define Serial _UART_USB_
#define Serial1 _UART1_

extern "C" {
typedef uint8_t byte;
typedef uint16_t word;

unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long);

void setup(void);
void loop(void);
}

uint16_t makeWord(uint16_t w);
#define word(...) makeWord(__VA_ARGS__)

#define PI 3.1415926535897932384626433832795
#define DEG_TO_RAD 0.017453292519943295769236907684886

#ifdef abs
#undef abs
#endif
#define abs(x) ((x) > 0 ? (x) : -(x))

#endif
