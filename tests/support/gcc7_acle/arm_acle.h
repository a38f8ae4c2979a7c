/* Stands for the <arm_acle.h> of GCC 7 (the toolchain PlatformIO installs for the Nano 33 BLE
 * Sense, toolchain-gccarmnoneeabi 1.70201, GCC 7.2.1): that header has the CRC32 and coprocessor
 * intrinsics but none of the SIMD32 ones (__sxtb16, __smlad, __ssat, ...), which GCC added in
 * GCC 10. tests/test_dsp_toolchains.py puts this directory first on the include path, so a
 * runtime source that relies on them fails to compile as it would with GCC 7. */
#ifndef TINYML_TEST_GCC7_ARM_ACLE_H
#define TINYML_TEST_GCC7_ARM_ACLE_H

#include <stdint.h>

#if defined(__ARM_FEATURE_CRC32)
static inline uint32_t __crc32b(uint32_t crc, uint8_t value) {
  return __builtin_arm_crc32b(crc, value);
}
#endif

#endif
