*** Comments ***
Not runnable on the development machine (no Renode there); see README.

The nano33ble_renode firmware, booted on Renode's Arduino Nano 33 BLE, answers a HELLO request on
its UART (Serial1, sysbus.uart0) with the board, the runtime and the cost counter it was built
with. Needs Renode 1.16.0 or later (binary-mode terminal tester, Wait For Bytes On Uart).
Run from the repository root, after `pio run -e nano33ble_renode`:
    renode-test firmware/renode/hello.robot


*** Settings ***
Suite Setup         Setup
Suite Teardown      Teardown
Test Setup          Reset Emulation
Test Teardown       Test Teardown
Resource            ${RENODEKEYWORDS}
Library             ${CURDIR}/tinyml_frames.py


*** Variables ***
${ELF}              ${CURDIR}/../../.pio/build/nano33ble_renode/firmware.elf
${UART}             sysbus.uart0

# HELLO with seq 1, as docs/protocol.md's worked example builds it:
#   frame   01 | 01 00 | (no payload) | 64 82 98 e7
#           type, seq (u16 little-endian), then zlib's CRC-32 of those three bytes, 0xE7988264,
#           little-endian
#   COBS    03 01 01 | 05 64 82 98 e7   (each block: its length + 1, then its non-zero bytes;
#           the frame's one 0x00 becomes the block boundary)
#   wire    the COBS bytes, then the 0x00 delimiter
# The leading 00 ends any partial frame first, as a host does when it connects.
# tests/test_firmware_nano33ble.py recomputes these bytes with zlib and checks them.
@{HELLO_REQUEST}    0x00    0x03    0x01    0x01    0x05    0x64    0x82    0x98    0xe7    0x00

# Renode's nRF52840 has no DWT; the firmware's cost counter reads DWT CYCCNT.
${DWT}=             SEPARATOR=
...                 """                                             ${\n}
...                 dwt: Miscellaneous.DWT @ sysbus 0xE0001000      ${\n}
...                 ${SPACE*4}frequency: 64000000                   ${\n}
...                 """


*** Keywords ***
Create Machine
    Execute Command             mach create "nano33ble"
    Execute Command             machine LoadPlatformDescription @platforms/boards/arduino_nano_33_ble.repl
    Execute Command             machine LoadPlatformDescriptionFromString ${DWT}
    Execute Command             sysbus LoadELF @${ELF}

Send Frame Bytes
    [Arguments]                 @{bytes}
    FOR    ${byte}    IN    @{bytes}
        Send Key To Uart        ${byte}
    END


*** Test Cases ***
Should Answer Hello On Serial1
    Create Machine
    Create Terminal Tester      ${UART}    binaryMode=true    defaultPauseEmulation=true
    # A byte that arrives before Serial1.begin() is lost: let the firmware boot (mbed OS, the
    # IMU probe, loading every TFLM model once) before talking to it.
    Execute Command             emulation RunFor "1"
    Start Emulation

    Send Frame Bytes            @{HELLO_REQUEST}
    # One frame: non-zero bytes up to the 0x00 delimiter.
    ${reply}=                   Wait For Bytes On Uart    ([\\x01-\\xff]+)\\x00    treatAsRegex=true    timeout=10
    ${hello}=                   Decode Hello Reply    ${reply.Groups[0]}    seq=1

    Should Be Equal As Integers    ${hello}[protocol_version]    1
    Should Be Equal As Integers    ${hello}[max_payload]    2048
    Should Be True              ${hello}[model_count] > 0
    Should Be Equal             ${hello}[board]    nano33ble-rev1
    Should Be Equal             ${hello}[backend]    tflm
    Should Be Equal             ${hello}[cost_unit]    cycles
    Should Be Equal As Integers    ${hello}[cpu_hz]    64000000
    Should Be Equal As Integers    ${hello}[cost_hz]    64000000
    # Renode's LSM9DS1 model (twi0) answers the WHO_AM_I probe that board_init makes.
    Should Be Equal As Integers    ${hello}[features]    1
