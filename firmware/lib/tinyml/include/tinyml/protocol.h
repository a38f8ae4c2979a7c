/* The serial protocol's numbers: frame layout, commands, events and error codes.
 * docs/protocol.md is the specification; this header and tools/protocol.py implement it
 * independently. */
#ifndef TINYML_PROTOCOL_H
#define TINYML_PROTOCOL_H

#ifdef __cplusplus
extern "C" {
#endif

#define TINYML_PROTOCOL_VERSION 2

/* Largest payload of any frame, either way; hello reports the value built in. Tensors larger
 * than a frame travel in INPUT_CHUNK and OUTPUT_READ requests, so no model needs it raised. */
#ifndef TINYML_MAX_PAYLOAD
#define TINYML_MAX_PAYLOAD 2048
#endif

/* Frame before COBS: type (1) | seq (2, little-endian) | payload | CRC-32 (4, little-endian). */
#define TINYML_FRAME_HEADER_BYTES 3
#define TINYML_FRAME_CRC_BYTES 4
#define TINYML_FRAME_MAX_BYTES (TINYML_FRAME_HEADER_BYTES + TINYML_MAX_PAYLOAD + TINYML_FRAME_CRC_BYTES)
/* COBS adds one byte per 254 and the delimiter one more. */
#define TINYML_WIRE_MAX_BYTES (TINYML_FRAME_MAX_BYTES + TINYML_FRAME_MAX_BYTES / 254 + 2)

/* Requests (host to device), 0x01-0x3F. The reply to request T has type T | 0x80. */
enum {
  TINYML_CMD_HELLO = 0x01,
  TINYML_CMD_MODEL_INFO = 0x02,
  TINYML_CMD_INFER = 0x03,
  TINYML_CMD_LIVE_START = 0x04,
  TINYML_CMD_CAPTURE_START = 0x05,
  TINYML_CMD_STOP = 0x06,
  TINYML_CMD_INPUT_CHUNK = 0x07,
  TINYML_CMD_OUTPUT_READ = 0x08,
  TINYML_CMD_LAYER_OUTPUT = 0x09
};

#define TINYML_REPLY_FLAG 0x80
/* Reply to a frame whose type cannot be trusted (bad CRC, truncated, oversized, bad COBS). */
#define TINYML_TYPE_FRAME_ERROR 0xFF

/* Events (device to host, unsolicited), 0x40-0x7F. */
enum {
  TINYML_EVENT_LIVE_RESULT = 0x41,
  TINYML_EVENT_IMU_SAMPLES = 0x42,
  TINYML_EVENT_STREAM_END = 0x43
};

/* Status byte that starts every reply payload. */
enum {
  TINYML_STATUS_OK = 0,
  TINYML_ERR_BAD_CRC = 1,
  TINYML_ERR_TRUNCATED = 2,
  TINYML_ERR_OVERSIZED = 3,
  TINYML_ERR_BAD_FRAMING = 4,
  TINYML_ERR_UNKNOWN_COMMAND = 5,
  TINYML_ERR_BAD_LENGTH = 6,
  TINYML_ERR_UNKNOWN_MODEL = 7,
  TINYML_ERR_BAD_INPUT_LENGTH = 8,
  TINYML_ERR_BAD_ENCODING = 9,
  TINYML_ERR_INVOKE_FAILED = 10,
  TINYML_ERR_UNSUPPORTED = 11,
  TINYML_ERR_BUSY = 12,
  TINYML_ERR_BAD_ARGUMENT = 13
};

/* Input encodings of an infer request. */
enum {
  TINYML_ENCODING_RAW = 0,
  TINYML_ENCODING_ZERO_RUNS = 1,
  TINYML_ENCODING_STAGED = 2 /* no data: the input INPUT_CHUNK requests wrote */
};

/* Reasons in a STREAM_END event. */
enum {
  TINYML_END_STOPPED = 0,     /* the host sent STOP */
  TINYML_END_COMPLETE = 1,    /* the requested number of samples was captured */
  TINYML_END_IMU_ENDED = 2,   /* the replayed stream ran out */
  TINYML_END_IMU_FAILED = 3   /* the sensor stopped answering */
};

/* Feature bits in the hello reply. */
#define TINYML_FEATURE_IMU 0x01u

#ifdef __cplusplus
}
#endif

#endif /* TINYML_PROTOCOL_H */
