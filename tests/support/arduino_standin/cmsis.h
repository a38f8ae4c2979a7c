// STAND-IN, NOT CMSIS. It only declares the Cortex-M4 debug registers that firmware/src/ uses
// (CMSIS core_cm4.h names: CoreDebug->DEMCR, DWT->CTRL, DWT->CYCCNT and their bit masks), so
// that tests/test_firmware_nano33ble.py can compile the glue and catch typos. On the board,
// mbed OS's targets/.../TARGET_MCU_NRF52840/device/cmsis.h provides the real ones. Nothing here
// runs; the real headers were not available on the machine these tests run on.
#ifndef TINYML_TEST_ARDUINO_STANDIN_CMSIS_H
#define TINYML_TEST_ARDUINO_STANDIN_CMSIS_H

#include <stdint.h>

typedef struct {
  volatile uint32_t DHCSR;
  volatile uint32_t DCRSR;
  volatile uint32_t DCRDR;
  volatile uint32_t DEMCR;
} CoreDebug_Type;

typedef struct {
  volatile uint32_t CTRL;
  volatile uint32_t CYCCNT;
} DWT_Type;

#define CoreDebug_DEMCR_TRCENA_Msk (1UL << 24)
#define DWT_CTRL_CYCCNTENA_Msk (1UL)

#define CoreDebug ((CoreDebug_Type *)0xE000EDF0UL)
#define DWT ((DWT_Type *)0xE0001000UL)

#endif
