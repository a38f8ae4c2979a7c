/* Little-endian payload writing and reading with bounds checks, shared by the dispatcher and the
 * IMU modes. Internal to the core. */
#ifndef TINYML_WIRE_FORMAT_H
#define TINYML_WIRE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyml/little_endian.h"

typedef struct {
  uint8_t *data;
  size_t capacity;
  size_t length;
  int overflow; /* set once anything did not fit; the payload is then unusable */
} payload_writer;

static inline void writer_init(payload_writer *writer, uint8_t *data, size_t capacity) {
  writer->data = data;
  writer->capacity = capacity;
  writer->length = 0;
  writer->overflow = 0;
}

/* Reserves `count` bytes and returns where they go, or NULL (and overflow) when they do not fit. */
static inline uint8_t *writer_reserve(payload_writer *writer, size_t count) {
  uint8_t *at;
  if (writer->overflow || count > writer->capacity - writer->length) {
    writer->overflow = 1;
    return NULL;
  }
  at = writer->data + writer->length;
  writer->length += count;
  return at;
}

static inline void put_bytes(payload_writer *writer, const void *bytes, size_t count) {
  uint8_t *at = writer_reserve(writer, count);
  if (at != NULL && count > 0) memcpy(at, bytes, count);
}

static inline void put_u8(payload_writer *writer, uint8_t value) { put_bytes(writer, &value, 1); }

static inline void put_u16(payload_writer *writer, uint16_t value) {
  uint8_t bytes[2];
  bytes[0] = (uint8_t)value;
  bytes[1] = (uint8_t)(value >> 8);
  put_bytes(writer, bytes, 2);
}

static inline void put_u32(payload_writer *writer, uint32_t value) {
  uint8_t bytes[4];
  bytes[0] = (uint8_t)value;
  bytes[1] = (uint8_t)(value >> 8);
  bytes[2] = (uint8_t)(value >> 16);
  bytes[3] = (uint8_t)(value >> 24);
  put_bytes(writer, bytes, 4);
}

static inline void put_f32(payload_writer *writer, float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  put_u32(writer, bits);
}

/* A string as u8 length + bytes; longer strings are cut at 255 bytes. */
static inline void put_str(payload_writer *writer, const char *text) {
  size_t length = text != NULL ? strlen(text) : 0;
  if (length > 255) length = 255;
  put_u8(writer, (uint8_t)length);
  put_bytes(writer, text, length);
}

static inline uint16_t get_u16(const uint8_t *bytes) { return tinyml_get_u16le(bytes); }
static inline uint32_t get_u32(const uint8_t *bytes) { return tinyml_get_u32le(bytes); }
static inline float get_f32(const uint8_t *bytes) { return tinyml_get_f32le(bytes); }

#endif /* TINYML_WIRE_FORMAT_H */
