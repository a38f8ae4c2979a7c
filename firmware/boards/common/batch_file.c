/* Batch runs: see batch_file.h for what they are for and the file formats. */
#include "batch_file.h"

#include <string.h>

#include "layer_profile.h"
#include "tinyml/little_endian.h"
#include "tinyml_models.h"

/* Layer costs go out in chunks of this many: no buffer sized for the largest plan. */
#define LAYER_CHUNK 64u
/* The largest input or output tensor a batch takes. Every tensor of a built-in model lives in
 * its arena, so a buffer of the arena's size refuses none; 8 KiB at least keeps the QEMU image's
 * buffers where they were for small models. Fixed buffers: no heap. */
#define MIN_TENSOR_BYTES 8192u
#define MAX_TENSOR_BYTES \
  (TINYML_BUILTIN_ARENA_BYTES > MIN_TENSOR_BYTES ? TINYML_BUILTIN_ARENA_BYTES : MIN_TENSOR_BYTES)
#define MAX_PATH_BYTES 512u

static const uint8_t input_magic[8] = {'T', 'M', 'L', 'B', 'A', 'T', '1', '\0'};
static const uint8_t output_magic[8] = {'T', 'M', 'L', 'O', 'U', 'T', '1', '\0'};

/* The invoke copies the input into the arena and the output out of it with memcpy, whose path
 * (and so the instruction count) depends on where source and destination sit modulo the word
 * size. So that a batch counts exactly what INFER reports, the input sits as INFER's does (the
 * device's tensor buffer, whatever the encoding) and the output as in INFER's reply: after its
 * u8 status, u32 cost and u32 micros. */
#define SKEW_MODULUS 8u
#define INFER_OUTPUT_OFFSET 9u

/* Static, not on the stack (the QEMU image's is 8 KiB). */
static struct {
  char path[MAX_PATH_BYTES];
  uint8_t input[MAX_TENSOR_BYTES + SKEW_MODULUS] __attribute__((aligned(SKEW_MODULUS)));
  uint8_t record[MAX_TENSOR_BYTES + TINYML_BATCH_RECORD_TRAILER_BYTES + SKEW_MODULUS]
      __attribute__((aligned(SKEW_MODULUS)));
  uint8_t layer_costs[LAYER_CHUNK * 4u];
} batch;

static size_t skew(const uint8_t *infer_address) {
  return (size_t)((uintptr_t)infer_address % SKEW_MODULUS);
}

/* ---- the one-line error message, without printf (the QEMU image carries no stdio) -------- */

typedef struct {
  char text[256];
  size_t length;
} message;

static void put_text(message *out, const char *text) {
  while (*text != '\0' && out->length + 1 < sizeof out->text) out->text[out->length++] = *text++;
  out->text[out->length] = '\0';
}

static void put_unsigned(message *out, uint64_t value) {
  char digits[21];
  size_t count = 0;
  do {
    digits[count++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0);
  while (count > 0 && out->length + 1 < sizeof out->text) {
    out->text[out->length++] = digits[--count];
  }
  out->text[out->length] = '\0';
}

/* Ends every message the same way and sends it; returns the error status. */
static int fail(const tinyml_batch_port *port, message *out) {
  put_text(out, "\n");
  port->report(out->text);
  return TINYML_BATCH_EXIT_ERROR;
}

static int fail_text(const tinyml_batch_port *port, const char *first, const char *second) {
  message out = {{0}, 0};
  put_text(&out, "batch: ");
  put_text(&out, first);
  put_text(&out, second);
  return fail(port, &out);
}

static int fail_sample(const tinyml_batch_port *port, uint32_t index, const char *what) {
  message out = {{0}, 0};
  put_text(&out, "batch: sample ");
  put_unsigned(&out, index);
  put_text(&out, what);
  return fail(port, &out);
}

/* ---- the input file ----------------------------------------------------------------------- */

/* What the input header asks for, once checked. */
typedef struct {
  uint16_t model;
  uint16_t flags;
  uint32_t count;
} request;

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* DIR/name into batch.path; 0, or -1 when it does not fit. */
static int join_path(const char *directory, const char *name) {
  const size_t directory_length = strlen(directory), name_length = strlen(name);
  if (directory_length + 1 + name_length + 1 > sizeof batch.path) return -1;
  memcpy(batch.path, directory, directory_length);
  batch.path[directory_length] = '/';
  memcpy(batch.path + directory_length + 1, name, name_length + 1);
  return 0;
}

/* Checks the input file's header against the model it names and the file's length. Returns 0
 * and fills `asked`, or reports the problem and returns the error status. */
static int check_inputs(const tinyml_batch_port *port, void *inputs,
                        const tinyml_backend *backend, request *asked) {
  uint8_t header[TINYML_BATCH_INPUT_HEADER_BYTES];
  const tinyml_model_info *info;
  uint32_t sample_bytes;
  uint64_t expected;
  long length;
  message out = {{0}, 0};

  if (port->read(inputs, header, sizeof header) != 0) {
    return fail_text(port, TINYML_BATCH_INPUTS_NAME, " is shorter than its 20-byte header");
  }
  if (memcmp(header, input_magic, sizeof input_magic) != 0) {
    return fail_text(port, TINYML_BATCH_INPUTS_NAME,
                     " is not a batch input file (no TMLBAT1 magic)");
  }
  asked->model = tinyml_get_u16le(header + 8);
  asked->count = tinyml_get_u32le(header + 12);
  sample_bytes = tinyml_get_u32le(header + 16);
  asked->flags = tinyml_get_u16le(header + 10);
  if ((asked->flags & ~TINYML_BATCH_PROFILE_LAYERS) != 0) {
    return fail_text(port, TINYML_BATCH_INPUTS_NAME, " asks for flags this image does not know");
  }
  put_text(&out, "batch: ");
  if (asked->model >= backend->model_count) {
    put_text(&out, "unknown model ");
    put_unsigned(&out, asked->model);
    put_text(&out, " (the image has ");
    put_unsigned(&out, backend->model_count);
    if (backend->model_count > 0) {
      put_text(&out, ", 0 to ");
      put_unsigned(&out, backend->model_count - 1u);
    }
    put_text(&out, ")");
    return fail(port, &out);
  }
  info = backend->model_info(backend, asked->model);
  if (sample_bytes != info->input.bytes) {
    put_text(&out, "wrong input size: model ");
    put_text(&out, info->name);
    put_text(&out, " takes ");
    put_unsigned(&out, info->input.bytes);
    put_text(&out, " input bytes per sample, ");
    put_text(&out, TINYML_BATCH_INPUTS_NAME);
    put_text(&out, " has ");
    put_unsigned(&out, sample_bytes);
    return fail(port, &out);
  }
  if (info->input.bytes > MAX_TENSOR_BYTES || info->output.bytes > MAX_TENSOR_BYTES) {
    put_text(&out, "model ");
    put_text(&out, info->name);
    put_text(&out, "'s tensors exceed the batch buffers (");
    put_unsigned(&out, MAX_TENSOR_BYTES);
    put_text(&out, " bytes)");
    return fail(port, &out);
  }
  /* The whole file checked up front: a truncated file fails before any work, not at the end. */
  length = port->length(inputs);
  expected = TINYML_BATCH_INPUT_HEADER_BYTES + (uint64_t)asked->count * sample_bytes;
  if (length < 0 || (uint64_t)length != expected) {
    put_text(&out, TINYML_BATCH_INPUTS_NAME);
    put_text(&out, " holds ");
    if (length < 0) {
      put_text(&out, "an unknown number of");
    } else {
      put_unsigned(&out, (uint64_t)length);
    }
    put_text(&out, " bytes; its header promises ");
    put_unsigned(&out, expected);
    put_text(&out, " (");
    put_unsigned(&out, asked->count);
    put_text(&out, " samples of ");
    put_unsigned(&out, sample_bytes);
    put_text(&out, " bytes)");
    return fail(port, &out);
  }
  return 0;
}

/* ---- the samples -------------------------------------------------------------------------- */

/* Runs the sample again layer by layer and writes its L layer costs. */
static int write_layer_costs(const tinyml_batch_port *port, tinyml_device *device,
                             uint16_t model, const uint8_t *input, void *outputs) {
  const uint16_t layers = tinyml_profile_layer_count(device, model);
  uint16_t layer = 0;
  uint32_t filled;
  tinyml_profile_start(device, model, input);
  while (layer < layers) {
    for (filled = 0; filled < LAYER_CHUNK && layer < layers; ++filled, ++layer) {
      tinyml_put_u32le(batch.layer_costs + 4u * filled,
                       tinyml_profile_layer(device, model, layer));
    }
    if (port->write(outputs, batch.layer_costs, 4u * filled) != 0) return -1;
  }
  return 0;
}

static int run_samples(const tinyml_batch_port *port, tinyml_device *device,
                       const request *asked, void *inputs, void *outputs) {
  const uint16_t model = asked->model;
  const tinyml_model_info *info = device->backend->model_info(device->backend, model);
  const uint32_t input_bytes = info->input.bytes, output_bytes = info->output.bytes;
  const int profiled = (asked->flags & TINYML_BATCH_PROFILE_LAYERS) != 0;
  const int stack = port->stack_high_water != NULL;
  const uint32_t layers = profiled ? tinyml_profile_layer_count(device, model) : 0u;
  const uint32_t record_bytes = output_bytes + TINYML_BATCH_RECORD_TRAILER_BYTES + 4u * layers;
  uint8_t *const input = batch.input + skew(device->tensor);
  uint8_t *const record = batch.record + skew(device->reply + INFER_OUTPUT_OFFSET);
  uint8_t header[TINYML_BATCH_OUTPUT_HEADER_BYTES];
  uint32_t index, cost, micros, empty_cost = 0, deepest = 0, depth = 0;
  uint32_t invoke_stack = TINYML_BATCH_NOT_MEASURED;

  memcpy(header, output_magic, sizeof output_magic);
  tinyml_put_u32le(header + 8, asked->count);
  tinyml_put_u32le(header + 12, output_bytes);
  tinyml_put_u32le(header + 16, record_bytes);
  if (profiled && tinyml_profile_prepare(device, model) != 0) {
    return fail_text(port, "the model has too many layers to profile", "");
  }
  if (port->write(outputs, header, sizeof header) != 0) {
    return fail_text(port, "cannot write ", TINYML_BATCH_OUTPUTS_NAME);
  }
  if (!stack) deepest = TINYML_BATCH_NOT_MEASURED;
  /* One sample at a time each way: on QEMU a semihosting round trip costs microseconds of host
   * time and no virtual time, against milliseconds for an inference. */
  for (index = 0; index < asked->count; ++index) {
    if (port->read(inputs, input, input_bytes) != 0) {
      return fail_sample(port, index, ": cannot read it from " TINYML_BATCH_INPUTS_NAME);
    }
    /* Before the real invoke, which then overwrites its output. */
    if (profiled && tinyml_profile_empty_invoke(device, input, record, &empty_cost) != 0) {
      return fail_sample(port, index, ": the empty invoke of the profile failed");
    }
    /* The invoke's own stack: repainted just before it, read just after it. What was deepest
     * before (start-up, the file checks, earlier samples) is kept for the run's figure. */
    if (stack) {
      deepest = max_u32(deepest, port->stack_high_water());
      port->stack_repaint();
      depth = port->stack_depth();
    }
    if (tinyml_device_invoke(device, model, input, record, &cost, &micros) != 0) {
      return fail_sample(port, index, ": the model's invoke failed");
    }
    if (stack) {
      deepest = max_u32(deepest, port->stack_high_water());
      invoke_stack = port->stack_high_water() - depth;
    }
    tinyml_put_u32le(record + output_bytes, cost);
    tinyml_put_u32le(record + output_bytes + 4u, micros);
    tinyml_put_u32le(record + output_bytes + 8u, deepest);
    tinyml_put_u32le(record + output_bytes + 12u, invoke_stack);
    tinyml_put_u32le(record + output_bytes + 16u, layers);
    tinyml_put_u32le(record + output_bytes + 20u, empty_cost);
    if (port->write(outputs, record, output_bytes + TINYML_BATCH_RECORD_TRAILER_BYTES) != 0 ||
        (profiled && write_layer_costs(port, device, model, input, outputs) != 0)) {
      return fail_sample(port, index, ": cannot write it to " TINYML_BATCH_OUTPUTS_NAME);
    }
  }
  return 0;
}

/* ---- the batch ---------------------------------------------------------------------------- */

int tinyml_batch_run(tinyml_device *device, const tinyml_batch_port *port,
                     const char *directory) {
  request asked;
  void *inputs, *outputs;
  int status;

  if (join_path(directory, TINYML_BATCH_INPUTS_NAME) != 0) {
    return fail_text(port, "the batch directory's path is too long: ", directory);
  }
  inputs = port->open(batch.path, 0);
  if (inputs == NULL) return fail_text(port, "cannot open ", batch.path);
  status = check_inputs(port, inputs, device->backend, &asked);
  if (status != 0) {
    (void)port->close(inputs);
    return status;
  }
  /* The output file is created only for a valid input file: no half-written leftovers from a
   * request that never ran. */
  if (join_path(directory, TINYML_BATCH_OUTPUTS_NAME) != 0) {
    (void)port->close(inputs);
    return fail_text(port, "the batch directory's path is too long: ", directory);
  }
  outputs = port->open(batch.path, 1);
  if (outputs == NULL) {
    (void)port->close(inputs);
    return fail_text(port, "cannot create ", batch.path);
  }
  status = run_samples(port, device, &asked, inputs, outputs);
  (void)port->close(inputs);
  if (port->close(outputs) != 0 && status == 0) {
    status = fail_text(port, "cannot write ", batch.path);
  }
  return status;
}
