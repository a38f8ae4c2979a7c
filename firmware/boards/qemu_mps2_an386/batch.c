/* Batch mode: see batch.h for what it is for and the file formats. */
#include "batch.h"

#include <stdint.h>
#include <string.h>

#include "board.h"
#include "semihosting.h"
#include "startup.h"
#include "tinyml/builtin_backend.h"
#include "tinyml/little_endian.h"
#include "tinyml/runtime.h"

#define BATCH_KEY " batch="
/* u32 cost, micros, stack high-water, invoke stack, layer count L and empty invoke after the
 * output tensor, then L u32 layer costs. */
#define RECORD_TRAILER_BYTES 24u
/* Layer costs go out in chunks of this many: no buffer sized for the largest plan. */
#define LAYER_CHUNK 64u
/* The largest input or output tensor a batch takes. The generated models need under 1 KiB; a
 * fixed buffer keeps the image free of a heap, and the RAM (4 MB) has room for far more. */
#define MAX_TENSOR_BYTES 8192u

static const uint8_t input_magic[8] = {'T', 'M', 'L', 'B', 'A', 'T', '1', '\0'};
static const uint8_t output_magic[8] = {'T', 'M', 'L', 'O', 'U', 'T', '1', '\0'};

/* The invoke copies the input into the arena and the output out of it with memcpy, whose path
 * (and so the instruction count) depends on where source and destination sit modulo the word
 * size. So that a batch counts exactly what INFER reports, the input sits as INFER's does (the
 * device's tensor buffer, whatever the encoding) and the output as in INFER's reply: after its
 * u8 status, u32 cost and u32 micros. */
#define SKEW_MODULUS 8u
#define INFER_OUTPUT_OFFSET 9u

/* In .bss, not on the 8 KiB stack. */
static struct {
  char command_line[512];
  char path[512];
  uint8_t input[MAX_TENSOR_BYTES + SKEW_MODULUS] __attribute__((aligned(SKEW_MODULUS)));
  uint8_t record[MAX_TENSOR_BYTES + RECORD_TRAILER_BYTES + SKEW_MODULUS]
      __attribute__((aligned(SKEW_MODULUS)));
} batch;

static size_t skew(const uint8_t *infer_address) {
  return (size_t)((uintptr_t)infer_address % SKEW_MODULUS);
}

const char *qemu_batch_directory(void) {
  const size_t key_length = sizeof BATCH_KEY - 1;
  const char *at;
  if (semihost_command_line(batch.command_line, sizeof batch.command_line) < 0) return NULL;
  /* A plain scan, as board_qemu.c does for " imu=": newlib's strstr is a kilobyte. */
  for (at = batch.command_line; *at != '\0'; ++at) {
    if (strncmp(at, BATCH_KEY, key_length) == 0 && at[key_length] != '\0') {
      return at + key_length;
    }
  }
  return NULL;
}

/* ---- the one-line error message, without printf (the image carries no stdio) ------------ */

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
  while (count > 0 && out->length + 1 < sizeof out->text) out->text[out->length++] = digits[--count];
  out->text[out->length] = '\0';
}

/* Ends every message the same way and sends it; returns the error status for main. */
static int fail(message *out) {
  put_text(out, "\n");
  semihost_write0(out->text);
  return QEMU_BATCH_EXIT_ERROR;
}

static int fail_text(const char *first, const char *second) {
  message out = {{0}, 0};
  put_text(&out, "batch: ");
  put_text(&out, first);
  put_text(&out, second);
  return fail(&out);
}

static int fail_sample(uint32_t index, const char *what) {
  message out = {{0}, 0};
  put_text(&out, "batch: sample ");
  put_unsigned(&out, index);
  put_text(&out, what);
  return fail(&out);
}

/* ---- files -------------------------------------------------------------------------------- */

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

static int read_exactly(int handle, void *buffer, size_t length) {
  return semihost_read(handle, buffer, length) == (int)length ? 0 : -1;
}

/* Checks the input file's header against the model it names and the file's length. Returns 0
 * and fills the model index and sample count, or reports the problem and returns the error
 * status. */
static int check_inputs(int handle, const tinyml_backend *backend, uint16_t *model,
                        uint16_t *flags, uint32_t *count) {
  uint8_t header[QEMU_BATCH_INPUT_HEADER_BYTES];
  const tinyml_model_info *info;
  uint32_t sample_bytes;
  uint64_t expected;
  long length;
  message out = {{0}, 0};

  if (read_exactly(handle, header, sizeof header) != 0) {
    return fail_text(QEMU_BATCH_INPUTS_NAME, " is shorter than its 20-byte header");
  }
  if (memcmp(header, input_magic, sizeof input_magic) != 0) {
    return fail_text(QEMU_BATCH_INPUTS_NAME, " is not a batch input file (no TMLBAT1 magic)");
  }
  *model = tinyml_get_u16le(header + 8);
  *count = tinyml_get_u32le(header + 12);
  sample_bytes = tinyml_get_u32le(header + 16);
  *flags = tinyml_get_u16le(header + 10);
  if ((*flags & ~QEMU_BATCH_PROFILE_LAYERS) != 0) {
    return fail_text(QEMU_BATCH_INPUTS_NAME, " asks for flags this image does not know");
  }
  put_text(&out, "batch: ");
  if (*model >= backend->model_count) {
    put_text(&out, "unknown model ");
    put_unsigned(&out, *model);
    put_text(&out, " (the image has ");
    put_unsigned(&out, backend->model_count);
    if (backend->model_count > 0) {
      put_text(&out, ", 0 to ");
      put_unsigned(&out, backend->model_count - 1u);
    }
    put_text(&out, ")");
    return fail(&out);
  }
  info = backend->model_info(backend, *model);
  if (sample_bytes != info->input.bytes) {
    put_text(&out, "wrong input size: model ");
    put_text(&out, info->name);
    put_text(&out, " takes ");
    put_unsigned(&out, info->input.bytes);
    put_text(&out, " input bytes per sample, ");
    put_text(&out, QEMU_BATCH_INPUTS_NAME);
    put_text(&out, " has ");
    put_unsigned(&out, sample_bytes);
    return fail(&out);
  }
  if (info->input.bytes > MAX_TENSOR_BYTES || info->output.bytes > MAX_TENSOR_BYTES) {
    put_text(&out, "model ");
    put_text(&out, info->name);
    put_text(&out, "'s tensors exceed the batch buffers (");
    put_unsigned(&out, MAX_TENSOR_BYTES);
    put_text(&out, " bytes)");
    return fail(&out);
  }
  /* The whole file checked up front: a truncated file fails before any work, not at the end. */
  length = semihost_file_length(handle);
  expected = QEMU_BATCH_INPUT_HEADER_BYTES + (uint64_t)*count * sample_bytes;
  if (length < 0 || (uint64_t)length != expected) {
    put_text(&out, QEMU_BATCH_INPUTS_NAME);
    put_text(&out, " holds ");
    if (length < 0) {
      put_text(&out, "an unknown number of");
    } else {
      put_unsigned(&out, (uint64_t)length);
    }
    put_text(&out, " bytes; its header promises ");
    put_unsigned(&out, expected);
    put_text(&out, " (");
    put_unsigned(&out, *count);
    put_text(&out, " samples of ");
    put_unsigned(&out, sample_bytes);
    put_text(&out, " bytes)");
    return fail(&out);
  }
  return 0;
}

/* ---- the per-layer profile ------------------------------------------------------------ */

/* The most layers a profile takes: the stand-in layer table is a fixed array (no heap). */
#define MAX_PROFILED_LAYERS 256u

/* The empty kernel that stands in for every layer: compiled to a lone return. */
static void empty_kernel(const void *params, uint8_t *arena) {
  (void)params;
  (void)arena;
}

/* In .bss: the profile's stand-ins must not deepen the stack it helps to measure. */
static struct {
  tinyml_layer empty_layers[MAX_PROFILED_LAYERS];
  tinyml_plan empty_plan; /* the model's plan with every layer's kernel the empty one */
  const tinyml_plan *empty_plans[1];
  tinyml_builtin_context empty_context;
  tinyml_backend empty_backend;
  uint8_t layer_costs[LAYER_CHUNK * 4u];
} profile;

/* The plan behind `model`: the QEMU image always runs the built-in backend, whose context holds
 * the registry's plans (tinyml_builtin_models) and the arena. */
static const tinyml_builtin_context *builtin_context(const tinyml_device *device) {
  return (const tinyml_builtin_context *)device->backend->context;
}

/* Fills profile.empty_plan: the model's plan with the same number of layers, each running the
 * empty kernel. 0, or -1 when the plan has more layers than the table. */
static int prepare_empty_plan(const tinyml_plan *plan) {
  uint16_t layer;
  if (plan->layer_count > MAX_PROFILED_LAYERS) return -1;
  for (layer = 0; layer < plan->layer_count; ++layer) {
    profile.empty_layers[layer].op = plan->layers[layer].op;
    profile.empty_layers[layer].run = empty_kernel;
    profile.empty_layers[layer].params = NULL;
  }
  profile.empty_plan = *plan;
  profile.empty_plan.layers = profile.empty_layers;
  profile.empty_plans[0] = &profile.empty_plan;
  return 0;
}

/* The measured invoke of INFER on the empty plan, through a stand-in backend over the same
 * arena: everything the invoke costs apart from the kernels' own work. `output` sits where the
 * real invoke's does, so its copy takes the same path. */
static int empty_invoke(tinyml_device *device, const uint8_t *input, uint8_t *output,
                        uint32_t *cost) {
  const tinyml_builtin_context *context = builtin_context(device);
  const tinyml_backend *real = device->backend;
  uint32_t micros;
  int status;
  if (tinyml_builtin_backend_init(&profile.empty_backend, &profile.empty_context,
                                  profile.empty_plans, 1, context->arena,
                                  context->arena_bytes) != 0) {
    return -1;
  }
  device->backend = &profile.empty_backend;
  status = tinyml_device_invoke(device, 0, input, output, cost, &micros);
  device->backend = real;
  return status;
}

/* The instructions of one call running one layer: the timer readings, the call, one pass of
 * the layer loop, the kernel. Not inlined: the baseline and every layer must be measured by the
 * same instructions, not by copies that the compiler may schedule differently. */
static uint32_t __attribute__((noinline)) one_layer_span(const tinyml_plan *plan, uint8_t *arena,
                                                         uint16_t layer) {
  const uint32_t start = board_cycles();
  tinyml_plan_run_layers(plan, arena, layer, (uint16_t)(layer + 1u));
  return board_cycles() - start;
}

/* Runs the sample again layer by layer and writes the L layer costs to `outputs`. A layer's
 * cost is its span minus the span of the empty kernel in the same place: the kernel's own
 * instructions beyond an empty kernel's. The empty invoke counts the loop passes and the empty
 * kernels, so cost = empty invoke + the layer costs, exactly. */
static int write_layer_costs(tinyml_device *device, uint16_t model, const uint8_t *input,
                             int outputs) {
  const tinyml_builtin_context *context = builtin_context(device);
  const tinyml_plan *plan = context->plans[model];
  const uint32_t baseline = one_layer_span(&profile.empty_plan, context->arena, 0);
  uint16_t layer = 0;
  uint32_t filled;
  memcpy(context->arena + plan->input_offset, input, plan->info->input.bytes);
  while (layer < plan->layer_count) {
    for (filled = 0; filled < LAYER_CHUNK && layer < plan->layer_count; ++filled, ++layer) {
      tinyml_put_u32le(profile.layer_costs + 4u * filled,
              one_layer_span(plan, context->arena, layer) - baseline);
    }
    if (semihost_write(outputs, profile.layer_costs, 4u * filled) != 0) return -1;
  }
  return 0;
}

/* ---- the batch ---------------------------------------------------------------------------- */

static int run_samples(tinyml_device *device, uint16_t model, uint16_t flags, uint32_t count,
                       int inputs, int outputs) {
  const tinyml_model_info *info = device->backend->model_info(device->backend, model);
  const uint32_t input_bytes = info->input.bytes, output_bytes = info->output.bytes;
  const int profiled = (flags & QEMU_BATCH_PROFILE_LAYERS) != 0;
  const uint32_t layers = profiled ? builtin_context(device)->plans[model]->layer_count : 0u;
  const uint32_t record_bytes = output_bytes + RECORD_TRAILER_BYTES + 4u * layers;
  uint8_t *const input = batch.input + skew(device->tensor);
  uint8_t *const record = batch.record + skew(device->reply + INFER_OUTPUT_OFFSET);
  uint8_t header[QEMU_BATCH_OUTPUT_HEADER_BYTES];
  uint32_t index, cost, micros, empty_cost = 0, deepest = 0, depth, invoke_stack;

  memcpy(header, output_magic, sizeof output_magic);
  tinyml_put_u32le(header + 8, count);
  tinyml_put_u32le(header + 12, output_bytes);
  tinyml_put_u32le(header + 16, record_bytes);
  if (profiled && prepare_empty_plan(builtin_context(device)->plans[model]) != 0) {
    return fail_text("the model has too many layers to profile", "");
  }
  if (semihost_write(outputs, header, sizeof header) != 0) {
    return fail_text("cannot write ", QEMU_BATCH_OUTPUTS_NAME);
  }
  /* One sample per host round trip each way: a round trip costs microseconds of host time and
   * no virtual time, against milliseconds for an inference. */
  for (index = 0; index < count; ++index) {
    if (read_exactly(inputs, input, input_bytes) != 0) {
      return fail_sample(index, ": cannot read it from " QEMU_BATCH_INPUTS_NAME);
    }
    /* Before the real invoke, which then overwrites its output. */
    if (profiled && empty_invoke(device, input, record, &empty_cost) != 0) {
      return fail_sample(index, ": the empty invoke of the profile failed");
    }
    /* The invoke's own stack: repainted just before it, read just after it. What was deepest
     * before (start-up, the file checks, earlier samples) is kept for the run's figure. */
    deepest = max_u32(deepest, qemu_stack_high_water());
    qemu_stack_repaint();
    depth = qemu_stack_depth();
    if (tinyml_device_invoke(device, model, input, record, &cost, &micros) != 0) {
      return fail_sample(index, ": the model's invoke failed");
    }
    deepest = max_u32(deepest, qemu_stack_high_water());
    invoke_stack = qemu_stack_high_water() - depth;
    tinyml_put_u32le(record + output_bytes, cost);
    tinyml_put_u32le(record + output_bytes + 4u, micros);
    tinyml_put_u32le(record + output_bytes + 8u, deepest);
    tinyml_put_u32le(record + output_bytes + 12u, invoke_stack);
    tinyml_put_u32le(record + output_bytes + 16u, layers);
    tinyml_put_u32le(record + output_bytes + 20u, empty_cost);
    if (semihost_write(outputs, record, output_bytes + RECORD_TRAILER_BYTES) != 0 ||
        (profiled && write_layer_costs(device, model, input, outputs) != 0)) {
      return fail_sample(index, ": cannot write it to " QEMU_BATCH_OUTPUTS_NAME);
    }
  }
  return 0;
}

int qemu_batch_run(tinyml_device *device, const char *directory) {
  uint16_t model, flags;
  uint32_t count;
  int inputs, outputs, status;

  if (join_path(directory, QEMU_BATCH_INPUTS_NAME) != 0) {
    return fail_text("the batch directory's path is too long: ", directory);
  }
  inputs = semihost_open_read(batch.path);
  if (inputs < 0) return fail_text("cannot open ", batch.path);
  status = check_inputs(inputs, device->backend, &model, &flags, &count);
  if (status != 0) {
    semihost_close(inputs);
    return status;
  }
  /* The output file is created only for a valid input file: no half-written leftovers from a
   * request that never ran. */
  if (join_path(directory, QEMU_BATCH_OUTPUTS_NAME) != 0) {
    semihost_close(inputs);
    return fail_text("the batch directory's path is too long: ", directory);
  }
  outputs = semihost_open_write(batch.path);
  if (outputs < 0) {
    semihost_close(inputs);
    return fail_text("cannot create ", batch.path);
  }
  status = run_samples(device, model, flags, count, inputs, outputs);
  semihost_close(inputs);
  semihost_close(outputs);
  return status;
}
