# Toolchain file for bare-metal Cortex-M4F with Debian's arm-none-eabi-gcc and newlib-nano.
#   cmake -S firmware -B build/firmware/qemu -DTINYML_TARGET=qemu \
#         -DCMAKE_TOOLCHAIN_FILE=$PWD/firmware/cmake/arm-none-eabi.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(TINYML_ARM_TOOLCHAIN ON) # tells firmware/CMakeLists.txt this file is in use

set(TINYML_ARM_PREFIX "arm-none-eabi-" CACHE STRING "Prefix of the cross tools")
find_program(CMAKE_C_COMPILER ${TINYML_ARM_PREFIX}gcc REQUIRED)
find_program(CMAKE_SIZE ${TINYML_ARM_PREFIX}size REQUIRED)
find_program(CMAKE_OBJCOPY ${TINYML_ARM_PREFIX}objcopy REQUIRED)

# No OS to link a test executable against: compiler checks build a static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Cortex-M4 with its single-precision FPU, hard-float calling convention (what the Nano 33 BLE
# Sense's nRF52840 runs). Function and data sections let --gc-sections drop what nothing uses,
# e.g. the .tflite bytes of the generated models, which only the TFLM backend reads.
set(TINYML_ARM_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_C_FLAGS_INIT "${TINYML_ARM_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${TINYML_ARM_FLAGS}")
# newlib-nano for the few libc functions used (memcpy, memset, strstr); our own start-up code,
# no crt0; no system calls stubs (no nosys.specs): anything that would need one (printf,
# malloc) fails to link rather than sneaking in.
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs -nostartfiles -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
