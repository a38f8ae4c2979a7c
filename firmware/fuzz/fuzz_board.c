/* See fuzz_board.h. */
#include "fuzz_board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

static struct {
  fuzz_board_config config;
  const uint8_t *queue;
  size_t queue_length;
  size_t read_size;
  int closed;
  uint32_t clock;
  int imu_active;
  uint32_t imu_reads;
  uint32_t imu_taken;
  uint32_t imu_state;
  fuzz_board_log log;
  uint8_t decoded[FUZZ_FRAME_CAPACITY];
} board;

static const board_identity_t identity_plain = {"fuzz", "ticks", 0u, 64000000u, 0u};
static const board_identity_t identity_imu = {"fuzz", "ticks", 0u, 64000000u, 1u};

void fuzz_fail(const char *why) {
  fprintf(stderr, "device-core finding: %s\n", why);
  abort();
}

void fuzz_board_reset(const fuzz_board_config *config) {
  memset(&board, 0, sizeof board);
  board.config = *config;
}

void fuzz_board_queue(const uint8_t *data, size_t length, size_t read_size) {
  board.queue = data;
  board.queue_length = length;
  board.read_size = read_size;
}

size_t fuzz_board_pending(void) { return board.queue_length; }

void fuzz_board_close(void) { board.closed = 1; }

const fuzz_board_log *fuzz_board_written(void) { return &board.log; }

uint32_t fuzz_crc32(const uint8_t *data, size_t length) {
  uint32_t crc = 0xFFFFFFFFu;
  size_t index;
  int bit;
  for (index = 0; index < length; ++index) {
    crc ^= data[index];
    for (bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

size_t fuzz_frame(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length,
                  long corrupt_bit, uint8_t *out) {
  uint8_t frame[FUZZ_MAX_PAYLOAD + 7];
  size_t frame_length = 3 + length, index, written = 1, code_at = 0;
  uint32_t crc;
  uint8_t code = 1;
  if (length > FUZZ_MAX_PAYLOAD) fuzz_fail("harness: payload too long for fuzz_frame");
  frame[0] = type;
  frame[1] = (uint8_t)seq;
  frame[2] = (uint8_t)(seq >> 8);
  if (length > 0) memcpy(frame + 3, payload, length);
  crc = fuzz_crc32(frame, frame_length);
  for (index = 0; index < 4; ++index) frame[frame_length++] = (uint8_t)(crc >> (8 * index));
  if (corrupt_bit >= 0) {
    frame[((size_t)corrupt_bit / 8) % frame_length] ^= (uint8_t)(1u << (corrupt_bit % 8));
  }
  /* COBS: each run of non-zero bytes behind a code byte of its length + 1, 254 at most. */
  for (index = 0; index < frame_length; ++index) {
    if (frame[index] != 0) {
      out[written++] = frame[index];
      ++code;
    }
    if (frame[index] == 0 || code == 0xFF) {
      out[code_at] = code;
      code_at = written++;
      code = 1;
    }
  }
  out[code_at] = code;
  out[written++] = 0;
  return written;
}

/* ---- what the device writes ----------------------------------------------------------------- */

/* Decodes one wire frame into board.decoded; returns its unstuffed length. */
static size_t unstuff(const uint8_t *data, size_t length) {
  size_t read = 0, written = 0;
  if (length < 2 || data[length - 1] != 0) fuzz_fail("a write that is not one delimited frame");
  length -= 1;
  while (read < length) {
    uint8_t code = data[read++], index;
    if (code == 0) fuzz_fail("a 0x00 inside a frame");
    if ((size_t)(code - 1) > length - read) fuzz_fail("a COBS code past the frame's end");
    for (index = 1; index < code; ++index) {
      if (data[read] == 0) fuzz_fail("a 0x00 inside a frame");
      board.decoded[written++] = data[read++];
    }
    if (code != 0xFF && read < length) board.decoded[written++] = 0;
  }
  return written;
}

static uint32_t u32_at(const uint8_t *bytes) {
  return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
         ((uint32_t)bytes[3] << 24);
}

static void check_event(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length) {
  if (seq != (uint16_t)board.log.events) fuzz_fail("an event seq out of order");
  board.log.events++;
  if (type == TINYML_EVENT_LIVE_RESULT && length < 17) fuzz_fail("a short LIVE_RESULT");
  if (type == TINYML_EVENT_IMU_SAMPLES &&
      (length < 5 || payload[4] < 1 || payload[4] > 8 || length != 5u + 24u * payload[4])) {
    fuzz_fail("an IMU_SAMPLES event of the wrong size");
  }
  if (type == TINYML_EVENT_STREAM_END && (length != 5 || payload[0] > TINYML_END_IMU_FAILED)) {
    fuzz_fail("a malformed STREAM_END");
  }
}

static void check_reply(uint8_t type, uint16_t seq, const uint8_t *payload, size_t length) {
  if (length < 1) fuzz_fail("a reply without a status");
  if (payload[0] > TINYML_ERR_BAD_ARGUMENT) fuzz_fail("a reply with an unknown status");
  if (payload[0] != TINYML_STATUS_OK && length != 1) fuzz_fail("an error reply with a body");
  if (type == TINYML_TYPE_FRAME_ERROR &&
      (payload[0] < TINYML_ERR_BAD_CRC || payload[0] > TINYML_ERR_UNKNOWN_COMMAND)) {
    fuzz_fail("a frame error reply with a request's status");
  }
  board.log.replies++;
  board.log.type = type;
  board.log.seq = seq;
  memcpy(board.log.payload, payload, length);
  board.log.payload_length = length;
}

void board_serial_write(const uint8_t *data, size_t length) {
  size_t decoded;
  uint8_t type;
  uint16_t seq;
  if (length > TINYML_WIRE_MAX_BYTES) fuzz_fail("a frame longer than TINYML_WIRE_MAX_BYTES");
  decoded = unstuff(data, length);
  if (decoded < 7) fuzz_fail("a frame shorter than header and CRC");
  if (decoded - 7 > TINYML_MAX_PAYLOAD) fuzz_fail("a payload over max_payload");
  if (fuzz_crc32(board.decoded, decoded - 4) != u32_at(board.decoded + decoded - 4)) {
    fuzz_fail("a frame with a wrong CRC");
  }
  type = board.decoded[0];
  seq = (uint16_t)(board.decoded[1] | (board.decoded[2] << 8));
  if (type >= TINYML_EVENT_LIVE_RESULT && type <= TINYML_EVENT_STREAM_END) {
    check_event(type, seq, board.decoded + 3, decoded - 7);
  } else if (type == TINYML_TYPE_FRAME_ERROR ||
             (type > TINYML_REPLY_FLAG && type <= (TINYML_CMD_LAYER_OUTPUT | TINYML_REPLY_FLAG))) {
    check_reply(type, seq, board.decoded + 3, decoded - 7);
  } else {
    fuzz_fail("a frame of a type the device never sends");
  }
}

/* ---- the rest of board.h ---------------------------------------------------------------------- */

void board_init(void) {}

int board_serial_read(uint8_t *buffer, size_t capacity) {
  size_t count = capacity;
  if (board.queue_length == 0) return board.closed ? -1 : 0;
  if (board.read_size != 0 && board.read_size < count) count = board.read_size;
  if (count > board.queue_length) count = board.queue_length;
  memcpy(buffer, board.queue, count);
  board.queue += count;
  board.queue_length -= count;
  return (int)count;
}

uint32_t board_micros(void) { return board.clock += 7u; }

uint32_t board_cycles(void) { return board.clock += 13u; }

const board_identity_t *board_identity(void) {
  return board.config.has_imu ? &identity_imu : &identity_plain;
}

int board_imu_start(uint32_t rate_hz) {
  if (!board.config.has_imu || rate_hz == 0 || rate_hz > board.config.imu_max_rate) {
    return BOARD_UNSUPPORTED;
  }
  board.imu_active = 1;
  board.imu_state = board.config.imu_seed | 1u;
  return BOARD_IMU_OK;
}

/* xorshift32: cheap, and any seed but 0 gives a long sequence. */
static uint32_t next_random(void) {
  uint32_t x = board.imu_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return board.imu_state = x;
}

/* Mostly ordinary readings, now and then an extreme: huge, infinite, NaN, denormal. */
static float sample_value(void) {
  static const uint32_t extremes[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x00000001u,
                                      0x7F7FFFFFu, 0xFF7FFFFFu, 0x80000000u, 0x4F000000u};
  uint32_t bits = next_random();
  if ((bits & 0xFFu) == 0) {
    float value;
    memcpy(&value, &extremes[(bits >> 8) % (sizeof extremes / sizeof extremes[0])], sizeof value);
    return value;
  }
  return ((float)(int32_t)(bits >> 8) - 8388608.0f) / 262144.0f; /* about +-32 */
}

int board_imu_read(float sample[BOARD_IMU_CHANNELS]) {
  int channel;
  if (!board.imu_active) return BOARD_UNSUPPORTED;
  board.imu_reads++;
  if (board.config.imu_idle_every != 0 && board.imu_reads % board.config.imu_idle_every == 0) {
    return BOARD_IMU_NO_SAMPLE;
  }
  if (board.imu_taken >= board.config.imu_samples) {
    return board.config.imu_fails ? BOARD_UNSUPPORTED : BOARD_IMU_END;
  }
  board.imu_taken++;
  for (channel = 0; channel < BOARD_IMU_CHANNELS; ++channel) sample[channel] = sample_value();
  return BOARD_IMU_OK;
}

void board_imu_stop(void) { board.imu_active = 0; }
