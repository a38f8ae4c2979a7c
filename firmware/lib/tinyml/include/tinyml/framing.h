/* Frames on the wire: CRC-32, COBS and a receiver that resynchronizes on the 0x00 delimiter.
 * docs/protocol.md, "Framing". */
#ifndef TINYML_FRAMING_H
#define TINYML_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CRC-32/ISO-HDLC (the zlib and Ethernet CRC); pass 0 as `crc` to start. */
uint32_t tinyml_crc32(uint32_t crc, const uint8_t *data, size_t length);

/* Encodes `length` bytes into `out` (capacity at least length + length / 254 + 1) without the
 * delimiter. Returns the encoded length. */
size_t tinyml_cobs_encode(const uint8_t *data, size_t length, uint8_t *out);

/* Decodes in place. Returns the decoded length, or -1 when the bytes are not valid COBS. */
int tinyml_cobs_decode(uint8_t *data, size_t length);

typedef enum {
  TINYML_RX_PENDING = 0, /* no complete frame yet */
  TINYML_RX_FRAME = 1,   /* a frame with a good CRC: see type, seq, payload */
  TINYML_RX_ERROR = 2    /* a bad frame: see error (a TINYML_ERR_* code) and seq */
} tinyml_rx_result;

typedef struct {
  uint8_t buffer[TINYML_WIRE_MAX_BYTES];
  size_t length;
  uint8_t overflowed; /* bytes were dropped since the last delimiter */
  /* Filled when a frame completes. */
  uint8_t type;
  uint16_t seq; /* 0xFFFF when the frame was too short to carry one */
  uint8_t error;
  const uint8_t *payload;
  size_t payload_length;
} tinyml_rx;

void tinyml_rx_reset(tinyml_rx *rx);

/* Feeds received bytes until a frame completes or they run out. `*consumed` tells how many were
 * taken; call again with the rest. Empty frames (a lone delimiter) are skipped silently. */
tinyml_rx_result tinyml_rx_feed(tinyml_rx *rx, const uint8_t *data, size_t length,
                                size_t *consumed);

/* Builds a complete wire frame (COBS, delimiter) in `out` (TINYML_WIRE_MAX_BYTES) from a
 * header and a payload of at most TINYML_MAX_PAYLOAD bytes. Returns its length. */
size_t tinyml_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length,
                           uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_FRAMING_H */
