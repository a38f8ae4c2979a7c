/* libFuzzer harness, structure-aware: the fuzz input is a script of requests, each turned into
 * a valid COBS + CRC frame (built independently of the core's encoder) of one command of
 * docs/protocol.md, with arguments from the input: HELLO, MODEL_INFO, INFER in its three
 * encodings, INPUT_CHUNK, OUTPUT_READ, LAYER_OUTPUT, LIVE_START, CAPTURE_START, STOP, unknown
 * types; and link trouble: resyncs, garbage, flipped bits, truncated and oversized frames,
 * reads of any size and idle polls, during which the IMU modes run.
 *
 * Oracles besides the sanitizers: every frame the device writes is well formed (fuzz_board.c);
 * every frame sent gets exactly one reply, of its type with its seq (a damaged one: the frame
 * error reply with the status the spec names); HELLO, MODEL_INFO of a real model and a raw
 * INFER of the right length succeed, the INFER with the whole output when it fits.
 *
 * The input's first byte also picks the board (with or without an IMU, one that fails) and a
 * backend variant (fuzz_common.h), so the paths for other runtimes are reached too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_board.h"
#include "fuzz_common.h"
#include "tinyml_models.h"

#define MAX_STEPS 48

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t at;
} reader;

static uint8_t take_u8(reader *in) { return in->at < in->size ? in->data[in->at++] : 0; }

static uint16_t take_u16(reader *in) {
  uint16_t low = take_u8(in);
  return (uint16_t)(low | (take_u8(in) << 8));
}

static uint32_t take_u32(reader *in) {
  uint32_t low = take_u16(in);
  return low | ((uint32_t)take_u16(in) << 16);
}

static void put16(uint8_t *at, uint16_t value) {
  at[0] = (uint8_t)value;
  at[1] = (uint8_t)(value >> 8);
}

static void put32(uint8_t *at, uint32_t value) {
  put16(at, (uint16_t)value);
  put16(at + 2, (uint16_t)(value >> 16));
}

static struct {
  tinyml_device *device;
  int failing_model;
  uint16_t seq;
  uint8_t payload[FUZZ_MAX_PAYLOAD];
  uint8_t wire[FUZZ_FRAME_CAPACITY];
} state;

/* A model index: mostly a real one, sometimes any u16. */
static uint16_t take_model(reader *in) {
  uint8_t pick = take_u8(in);
  return pick < 0xF0 ? (uint16_t)(pick % TINYML_MODEL_COUNT) : take_u16(in);
}

/* `count` bytes of tensor data: from the input while it lasts, then a pattern its next byte
 * seeds, so large tensors cost the input a few bytes. */
static void take_tensor(reader *in, uint8_t *out, size_t count) {
  size_t literal = take_u8(in), index;
  uint8_t value = take_u8(in);
  for (index = 0; index < count; ++index) {
    out[index] = index < literal ? take_u8(in) : (value = (uint8_t)(value * 73u + 41u));
  }
}

/* Delivers wire bytes the way the input says: reads of one size, idle polls in between. */
static void deliver(reader *in, const uint8_t *wire, size_t length) {
  uint8_t read_size = take_u8(in);
  uint8_t idle = take_u8(in) & 3u;
  fuzz_board_queue(wire, length, read_size % 80u);
  while (fuzz_board_pending() > 0) {
    uint8_t poll;
    tinyml_device_poll(state.device);
    for (poll = 0; poll < idle; ++poll) {
      /* An idle poll reads nothing: the queue is parked meanwhile. */
      const size_t pending = fuzz_board_pending();
      const uint8_t *rest = wire + (length - pending);
      fuzz_board_queue(rest, 0, 0);
      tinyml_device_poll(state.device);
      fuzz_board_queue(rest, pending, read_size % 80u);
    }
  }
}

/* Sends one frame and checks that exactly one reply came back, of type `expect_type` with the
 * frame's seq, and status `expect_status` unless that is -1. */
static const fuzz_board_log *exchange(reader *in, uint8_t type, size_t length, long corrupt_bit,
                                      uint8_t expect_type, int expect_status, int check_seq) {
  const fuzz_board_log *log = fuzz_board_written();
  const uint32_t before = log->replies;
  const uint16_t seq = state.seq++;
  size_t wire_length = fuzz_frame(type, seq, state.payload, length, corrupt_bit, state.wire);
  if (length > TINYML_MAX_PAYLOAD && corrupt_bit < 0) {
    /* Too long to be any request: refused whatever it is, and its seq may not be read. */
    expect_type = TINYML_TYPE_FRAME_ERROR;
    expect_status = TINYML_ERR_OVERSIZED;
    check_seq = 0;
  }
  deliver(in, state.wire, wire_length);
  if (log->replies != before + 1) fuzz_fail("not exactly one reply to a frame");
  if (log->type != expect_type) {
    fprintf(stderr, "sent type 0x%02x, reply 0x%02x (status %u), expected 0x%02x\n", type,
            log->type, log->payload[0], expect_type);
    fuzz_fail("a reply of the wrong type");
  }
  if (check_seq && log->seq != seq) fuzz_fail("a reply with another seq");
  if (expect_status >= 0 && log->payload[0] != expect_status) {
    fprintf(stderr, "sent type 0x%02x, status %u, expected %d\n", type, log->payload[0],
            expect_status);
    fuzz_fail("a reply with the wrong status");
  }
  return log;
}

static const fuzz_board_log *request(reader *in, uint8_t type, size_t length, int expect) {
  return exchange(in, type, length, -1, (uint8_t)(type | TINYML_REPLY_FLAG), expect, 1);
}

/* Payload lengths: mostly the right one, sometimes one off or anything up to 16. */
static size_t take_length(reader *in, size_t right) {
  uint8_t pick = take_u8(in);
  if (pick < 0xE0) return right;
  if (pick < 0xF0) return right + 1;
  if (pick < 0xF8 && right > 0) return right - 1;
  return pick & 0x0Fu;
}

static void do_hello(reader *in) {
  const size_t length = take_length(in, 0);
  const fuzz_board_log *log;
  memset(state.payload, 0, length);
  log = request(in, TINYML_CMD_HELLO, length, length == 0 ? TINYML_STATUS_OK : TINYML_ERR_BAD_LENGTH);
  if (length == 0 &&
      (log->payload_length < 19 || log->payload[1] != TINYML_PROTOCOL_VERSION ||
       (log->payload[2] | (log->payload[3] << 8)) != TINYML_MAX_PAYLOAD ||
       (log->payload[4] | (log->payload[5] << 8)) != TINYML_MODEL_COUNT)) {
    fuzz_fail("a HELLO reply that does not describe this build");
  }
}

static void do_model_info(reader *in) {
  const uint16_t model = take_model(in);
  const size_t length = take_length(in, 2);
  int expect = -1;
  put16(state.payload, model);
  if (length == 2) expect = model < TINYML_MODEL_COUNT ? TINYML_STATUS_OK : TINYML_ERR_UNKNOWN_MODEL;
  request(in, TINYML_CMD_MODEL_INFO, length, expect);
}

static void do_infer(reader *in) {
  const uint16_t model = take_model(in);
  const uint8_t encoding = take_u8(in) % 4u; /* 3: an unknown one */
  const tinyml_plan *plan = model < TINYML_MODEL_COUNT ? tinyml_builtin_models[model] : NULL;
  size_t length = 3;
  int expect = -1;
  put16(state.payload, model);
  state.payload[2] = encoding;
  if (encoding == TINYML_ENCODING_RAW) {
    size_t bytes = plan != NULL ? plan->info->input.bytes : take_u8(in);
    bytes = take_length(in, bytes);
    if (bytes > TINYML_MAX_PAYLOAD - 3) bytes = TINYML_MAX_PAYLOAD - 3;
    take_tensor(in, state.payload + 3, bytes);
    length += bytes;
    if (plan != NULL && bytes == plan->info->input.bytes) {
      expect = model == state.failing_model ? TINYML_ERR_INVOKE_FAILED : TINYML_STATUS_OK;
    }
  } else if (encoding == TINYML_ENCODING_ZERO_RUNS) {
    uint8_t groups = take_u8(in) % 32u, group;
    for (group = 0; group < groups && length + 2 <= TINYML_MAX_PAYLOAD; ++group) {
      uint8_t zeros = take_u8(in), count = take_u8(in);
      if (length + 2u + count > TINYML_MAX_PAYLOAD) count = (uint8_t)(TINYML_MAX_PAYLOAD - length - 2u);
      state.payload[length] = zeros;
      state.payload[length + 1] = count;
      take_tensor(in, state.payload + length + 2, count);
      length += 2u + count;
    }
    if (take_u8(in) >= 0xF0 && length < TINYML_MAX_PAYLOAD) state.payload[length++] = 0xFF; /* cut */
  } else if (encoding == TINYML_ENCODING_STAGED) {
    if (take_u8(in) >= 0xF0) state.payload[length++] = 0;
  }
  {
    const fuzz_board_log *log = request(in, TINYML_CMD_INFER, length, expect);
    if (log->payload[0] == TINYML_STATUS_OK && plan != NULL) {
      const size_t whole = 9u + plan->info->output.bytes;
      if (log->payload_length != (whole <= TINYML_MAX_PAYLOAD ? whole : 9u)) {
        fuzz_fail("an INFER reply of the wrong length");
      }
    }
  }
}

/* INPUT_CHUNK: mostly continuing where the model's input stands, so that whole inputs happen. */
static void do_input_chunk(reader *in) {
  const uint16_t model = take_model(in);
  const tinyml_plan *plan = model < TINYML_MODEL_COUNT ? tinyml_builtin_models[model] : NULL;
  uint32_t offset = take_u8(in) < 0xF0 ? (uint32_t)take_u16(in) % 2048u : take_u32(in);
  uint16_t count = take_u16(in);
  size_t data = count;
  if (plan != NULL && (count == 0 || count > 0xF000u)) {
    /* the natural chunk: to the end of the input, as much as a frame holds */
    offset = offset < plan->info->input.bytes ? offset : 0;
    count = (uint16_t)(plan->info->input.bytes - offset);
    if (count > TINYML_MAX_PAYLOAD - 8) count = TINYML_MAX_PAYLOAD - 8;
    data = count;
  }
  if (data > TINYML_MAX_PAYLOAD - 8) data = TINYML_MAX_PAYLOAD - 8;
  data = take_length(in, data);
  put16(state.payload, model);
  put32(state.payload + 2, offset);
  put16(state.payload + 6, count);
  take_tensor(in, state.payload + 8, data);
  request(in, TINYML_CMD_INPUT_CHUNK, 8 + data, -1);
}

static void do_output_read(reader *in) {
  const uint16_t model = take_model(in);
  put16(state.payload, model);
  put32(state.payload + 2, take_u8(in) < 0xF0 ? take_u16(in) % 1024u : take_u32(in));
  put16(state.payload + 6, take_u16(in));
  request(in, TINYML_CMD_OUTPUT_READ, take_length(in, 8), -1);
}

static void do_layer_output(reader *in) {
  const uint16_t model = take_model(in);
  put16(state.payload, model);
  put16(state.payload + 2, take_u8(in) < 0xF0 ? take_u8(in) % 8u : take_u16(in));
  put32(state.payload + 4, take_u8(in) < 0x80 ? 0u : take_u8(in) < 0xF0 ? take_u16(in) : take_u32(in));
  put16(state.payload + 8, take_u16(in));
  request(in, TINYML_CMD_LAYER_OUTPUT, take_length(in, 10), -1);
}

static void do_live_start(reader *in) {
  put16(state.payload, take_model(in));
  put16(state.payload + 2, take_u8(in) < 0xF0 ? take_u8(in) % 128u : take_u16(in));
  request(in, TINYML_CMD_LIVE_START, take_length(in, 4), -1);
}

static void do_capture_start(reader *in) {
  static const float rates[] = {0.0f, 0.4f, 0.5f, 1.0f, 10.0f, 50.0f, 999.6f, 100000.0f,
                                100001.0f, -1.0f};
  float rate;
  uint8_t pick = take_u8(in);
  if (pick < 0xF0) {
    rate = rates[pick % (sizeof rates / sizeof rates[0])];
  } else {
    uint32_t bits = take_u32(in); /* any float: NaN, infinities, denormals */
    memcpy(&rate, &bits, sizeof rate);
  }
  memcpy(state.payload, &rate, sizeof rate); /* the harness runs little-endian */
  put32(state.payload + 4, take_u8(in) < 0xC0 ? take_u8(in) : take_u32(in));
  request(in, TINYML_CMD_CAPTURE_START, take_length(in, 8), -1);
}

static void do_stop(reader *in) {
  const size_t length = take_length(in, 0);
  memset(state.payload, 0, length);
  request(in, TINYML_CMD_STOP, length, length == 0 ? TINYML_STATUS_OK : TINYML_ERR_BAD_LENGTH);
}

/* A type that is no request: a reply's, an event's, 0, or one past the last command. */
static void do_unknown(reader *in) {
  uint8_t type = take_u8(in);
  size_t length = take_u8(in) % 16u, index;
  if (type >= TINYML_CMD_HELLO && type <= TINYML_CMD_LAYER_OUTPUT) type = (uint8_t)(type + 0x30u);
  for (index = 0; index < length; ++index) state.payload[index] = take_u8(in);
  exchange(in, type, length, -1, TINYML_TYPE_FRAME_ERROR, TINYML_ERR_UNKNOWN_COMMAND, 1);
}

/* A well-formed request of any command with a bit flipped after its CRC: BAD_CRC. */
static void do_crc_flip(reader *in) {
  uint8_t type = (uint8_t)(take_u8(in) % 12u);
  size_t length = take_u8(in) % 24u, index;
  long bit = (long)take_u16(in) % (long)((3 + length + 4) * 8);
  for (index = 0; index < length; ++index) state.payload[index] = take_u8(in);
  exchange(in, type, length, bit, TINYML_TYPE_FRAME_ERROR, TINYML_ERR_BAD_CRC, 0);
}

/* Resyncs, garbage, and frames too short or too long. */
static void do_link_trouble(reader *in) {
  static uint8_t bytes[FUZZ_FRAME_CAPACITY];
  const fuzz_board_log *log = fuzz_board_written();
  const uint32_t before = log->replies;
  uint8_t kind = take_u8(in) % 4u;
  size_t length = 0, index;
  uint32_t expect = 1;
  int status = -1;
  if (kind == 0) { /* delimiters alone: ignored */
    length = 1u + take_u8(in) % 4u;
    memset(bytes, 0, length);
    expect = 0;
  } else if (kind == 1) { /* arbitrary non-zero bytes, then a delimiter */
    length = 1u + take_u8(in) % 32u;
    for (index = 0; index < length; ++index) bytes[index] = (uint8_t)(take_u8(in) | 1u);
    bytes[length++] = 0;
  } else if (kind == 2) { /* a stuffed frame of fewer than 7 bytes */
    size_t short_length = take_u8(in) % 7u;
    bytes[0] = (uint8_t)(short_length + 1);
    for (index = 0; index < short_length; ++index) bytes[1 + index] = (uint8_t)(take_u8(in) | 1u);
    bytes[1 + short_length] = 0;
    length = short_length + 2;
    status = TINYML_ERR_TRUNCATED;
  } else { /* longer than the receive buffer, or a payload over max_payload */
    if (take_u8(in) & 1u) {
      length = TINYML_WIRE_MAX_BYTES + 1u + take_u8(in) % 32u;
      memset(bytes, 0x11, length);
      bytes[length++] = 0;
    } else {
      size_t over = TINYML_MAX_PAYLOAD + 1u + take_u8(in) % 32u;
      memset(state.payload, 0x22, over);
      length = fuzz_frame(TINYML_CMD_HELLO, state.seq++, state.payload, over, -1, bytes);
    }
    status = TINYML_ERR_OVERSIZED;
  }
  deliver(in, bytes, length);
  if (log->replies != before + expect) fuzz_fail("not exactly one reply to damaged bytes");
  if (expect == 1 && status >= 0 &&
      (log->type != TINYML_TYPE_FRAME_ERROR || log->payload[0] != status)) {
    fprintf(stderr, "kind %u: reply 0x%02x status %u, expected status %d\n", kind, log->type,
            log->payload[0], status);
    fuzz_fail("damaged bytes got the wrong error");
  }
}

/* Polls with nothing to read, while a live or capture mode runs. */
static void do_idle(reader *in) {
  uint8_t polls = (uint8_t)(1u + take_u8(in) % 32u), poll;
  for (poll = 0; poll < polls; ++poll) tinyml_device_poll(state.device);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader in = {data, size, 0};
  fuzz_board_config config;
  fuzz_backend_variant variant;
  int actions;
  uint8_t flags = take_u8(&in);
  config.has_imu = (flags & 1u) == 0;
  config.imu_fails = (flags & 2u) != 0;
  config.imu_idle_every = (uint8_t)(take_u8(&in) % 8u);
  config.imu_samples = take_u16(&in) % 400u;
  config.imu_seed = take_u32(&in);
  config.imu_max_rate = (flags & 4u) ? 100u : 100000u;
  variant.no_staging = (flags & 8u) != 0;
  variant.failing_model = (flags & 16u) ? (int)((flags >> 5) % TINYML_MODEL_COUNT) : -1;
  state.failing_model = variant.failing_model;
  state.device = fuzz_device_fresh(&config, &variant);
  state.seq = take_u16(&in);
  for (actions = 0; actions < 64 && in.at < in.size; ++actions) {
    switch (take_u8(&in) % 16u) {
      case 0: do_hello(&in); break;
      case 1: do_model_info(&in); break;
      case 2: case 3: do_infer(&in); break;
      case 4: case 5: do_input_chunk(&in); break;
      case 6: do_output_read(&in); break;
      case 7: do_layer_output(&in); break;
      case 8: do_live_start(&in); break;
      case 9: do_capture_start(&in); break;
      case 10: do_stop(&in); break;
      case 11: do_unknown(&in); break;
      case 12: do_crc_flip(&in); break;
      case 13: do_link_trouble(&in); break;
      default: do_idle(&in); break;
    }
  }
  return 0;
}
