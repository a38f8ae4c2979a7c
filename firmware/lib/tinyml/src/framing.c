/* CRC-32, COBS and the frame receiver. See docs/protocol.md, "Framing". */
#include "tinyml/framing.h"

#include <string.h>

/* Half-byte table: 64 bytes of flash instead of 1 KiB, at twice the table lookups. */
static const uint32_t crc32_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t tinyml_crc32(uint32_t crc, const uint8_t *data, size_t length) {
  size_t index;
  crc = ~crc;
  for (index = 0; index < length; ++index) {
    crc ^= data[index];
    crc = (crc >> 4) ^ crc32_nibble_table[crc & 0x0Fu];
    crc = (crc >> 4) ^ crc32_nibble_table[crc & 0x0Fu];
  }
  return ~crc;
}

size_t tinyml_cobs_encode(const uint8_t *data, size_t length, uint8_t *out) {
  size_t code_at = 0; /* where the current block's code byte goes */
  size_t written = 1;
  uint8_t code = 1;
  size_t index;
  for (index = 0; index < length; ++index) {
    if (data[index] == 0) {
      out[code_at] = code;
      code_at = written++;
      code = 1;
      continue;
    }
    out[written++] = data[index];
    if (++code == 0xFF) { /* a full block of 254 bytes carries no implied zero */
      out[code_at] = code;
      code_at = written++;
      code = 1;
    }
  }
  out[code_at] = code;
  return written;
}

int tinyml_cobs_decode(uint8_t *data, size_t length) {
  size_t read = 0;
  size_t written = 0;
  while (read < length) {
    uint8_t code = data[read++];
    uint8_t copied;
    if (code == 0 || read + (size_t)(code - 1) > length) return -1;
    for (copied = 1; copied < code; ++copied) data[written++] = data[read++];
    if (code != 0xFF && read < length) data[written++] = 0;
  }
  return (int)written;
}

void tinyml_rx_reset(tinyml_rx *rx) {
  rx->length = 0;
  rx->overflowed = 0;
}

static uint32_t read_u32(const uint8_t *bytes) {
  return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
         ((uint32_t)bytes[3] << 24);
}

/* Decodes the collected bytes and checks them; returns FRAME or ERROR with rx's fields set. */
static tinyml_rx_result finish_frame(tinyml_rx *rx) {
  int decoded;
  size_t body;
  rx->seq = 0xFFFFu;
  if (rx->overflowed) {
    rx->error = TINYML_ERR_OVERSIZED;
    return TINYML_RX_ERROR;
  }
  decoded = tinyml_cobs_decode(rx->buffer, rx->length);
  if (decoded < 0) {
    rx->error = TINYML_ERR_BAD_FRAMING;
    return TINYML_RX_ERROR;
  }
  if (decoded >= TINYML_FRAME_HEADER_BYTES) {
    rx->seq = (uint16_t)(rx->buffer[1] | (rx->buffer[2] << 8));
  }
  if ((size_t)decoded < TINYML_FRAME_HEADER_BYTES + TINYML_FRAME_CRC_BYTES) {
    rx->error = TINYML_ERR_TRUNCATED;
    return TINYML_RX_ERROR;
  }
  body = (size_t)decoded - TINYML_FRAME_CRC_BYTES;
  if (tinyml_crc32(0, rx->buffer, body) != read_u32(rx->buffer + body)) {
    rx->error = TINYML_ERR_BAD_CRC;
    return TINYML_RX_ERROR;
  }
  if (body - TINYML_FRAME_HEADER_BYTES > TINYML_MAX_PAYLOAD) {
    rx->error = TINYML_ERR_OVERSIZED;
    return TINYML_RX_ERROR;
  }
  rx->type = rx->buffer[0];
  rx->payload = rx->buffer + TINYML_FRAME_HEADER_BYTES;
  rx->payload_length = body - TINYML_FRAME_HEADER_BYTES;
  return TINYML_RX_FRAME;
}

tinyml_rx_result tinyml_rx_feed(tinyml_rx *rx, const uint8_t *data, size_t length,
                                size_t *consumed) {
  size_t index;
  for (index = 0; index < length; ++index) {
    uint8_t byte = data[index];
    if (byte != 0) {
      if (rx->length < sizeof rx->buffer) {
        rx->buffer[rx->length++] = byte;
      } else {
        rx->overflowed = 1;
      }
      continue;
    }
    if (rx->length == 0 && !rx->overflowed) continue; /* empty frame: a resync byte */
    {
      tinyml_rx_result result = finish_frame(rx);
      tinyml_rx_reset(rx);
      *consumed = index + 1;
      return result;
    }
  }
  *consumed = length;
  return TINYML_RX_PENDING;
}

size_t tinyml_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length,
                           uint8_t *out) {
  /* The frame is assembled at the end of `out` and stuffed towards its start: COBS output never
   * overtakes its input by more than one code byte per block, and the gap exceeds that. */
  uint8_t *frame = out + TINYML_WIRE_MAX_BYTES - (TINYML_FRAME_HEADER_BYTES + length +
                                                  TINYML_FRAME_CRC_BYTES);
  size_t frame_length = TINYML_FRAME_HEADER_BYTES + length;
  uint32_t crc;
  size_t encoded;
  frame[0] = type;
  frame[1] = (uint8_t)(seq & 0xFFu);
  frame[2] = (uint8_t)(seq >> 8);
  if (length > 0) memmove(frame + TINYML_FRAME_HEADER_BYTES, payload, length);
  crc = tinyml_crc32(0, frame, frame_length);
  frame[frame_length++] = (uint8_t)crc;
  frame[frame_length++] = (uint8_t)(crc >> 8);
  frame[frame_length++] = (uint8_t)(crc >> 16);
  frame[frame_length++] = (uint8_t)(crc >> 24);
  encoded = tinyml_cobs_encode(frame, frame_length, out);
  out[encoded++] = 0;
  return encoded;
}
