/* Little-endian fields of the wire payloads and of the ports' files (IMU replay, batch mode),
 * read and written byte by byte, so they work on any host and at any alignment. */
#ifndef TINYML_LITTLE_ENDIAN_H
#define TINYML_LITTLE_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline uint16_t tinyml_get_u16le(const uint8_t *bytes) {
  return (uint16_t)(bytes[0] | (bytes[1] << 8));
}

static inline uint32_t tinyml_get_u32le(const uint8_t *bytes) {
  return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
         ((uint32_t)bytes[3] << 24);
}

static inline float tinyml_get_f32le(const uint8_t *bytes) {
  const uint32_t bits = tinyml_get_u32le(bytes);
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static inline void tinyml_put_u32le(uint8_t *bytes, uint32_t value) {
  bytes[0] = (uint8_t)value;
  bytes[1] = (uint8_t)(value >> 8);
  bytes[2] = (uint8_t)(value >> 16);
  bytes[3] = (uint8_t)(value >> 24);
}

#endif /* TINYML_LITTLE_ENDIAN_H */
