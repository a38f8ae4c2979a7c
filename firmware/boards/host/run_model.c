/* Batch runner for the host: runs one registered model of the built-in runtime over raw int8
 * input tensors read from stdin, writing the output tensors to stdout. `tinyml run --backend
 * builtin` and the tests build it together with converter output.
 *
 *   run_model NAME < inputs.bin > outputs.bin      (back-to-back tensors, no header)
 *   run_model --list                                 (registered model names)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyml/runtime.h"
#include "tinyml_models.h"

static unsigned char arena[TINYML_BUILTIN_ARENA_BYTES + TINYML_ARENA_ALIGNMENT]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));

static const tinyml_plan *find_model(const char *name) {
  int index;
  for (index = 0; index < TINYML_MODEL_COUNT; ++index) {
    if (strcmp(tinyml_builtin_models[index]->info->name, name) == 0) {
      return tinyml_builtin_models[index];
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  const tinyml_plan *plan;
  unsigned char *input;
  unsigned char *output;
  size_t got;
  if (argc != 2) {
    fprintf(stderr, "usage: %s NAME < inputs > outputs | %s --list\n", argv[0], argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "--list") == 0) {
    int index;
    for (index = 0; index < TINYML_MODEL_COUNT; ++index) {
      printf("%s\n", tinyml_builtin_models[index]->info->name);
    }
    return 0;
  }
  plan = find_model(argv[1]);
  if (plan == NULL) {
    fprintf(stderr, "run_model: no model named %s\n", argv[1]);
    return 2;
  }
  /* Before any input is read: a zero-sized tensor would make the loop below read nothing for
   * ever, and a plan whose tensors leave its arena would run past it. */
  if (plan->info->input.bytes == 0 || plan->info->output.bytes == 0) {
    fprintf(stderr, "run_model: model %s has a zero-sized %s tensor\n", argv[1],
            plan->info->input.bytes == 0 ? "input" : "output");
    return 2;
  }
  if (tinyml_plan_check(plan, sizeof arena) != TINYML_OK) {
    fprintf(stderr, "run_model: model %s has an inconsistent plan (arena %lu bytes)\n", argv[1],
            (unsigned long)plan->arena_bytes);
    return 2;
  }
  input = (unsigned char *)malloc(plan->info->input.bytes);
  output = (unsigned char *)malloc(plan->info->output.bytes);
  if (input == NULL || output == NULL) {
    fprintf(stderr, "run_model: cannot allocate the %s tensor\n", input == NULL ? "input" : "output");
    return 1;
  }
  while ((got = fread(input, 1, plan->info->input.bytes, stdin)) == plan->info->input.bytes) {
    tinyml_status status = tinyml_plan_invoke(plan, arena, sizeof arena, input, output);
    if (status != TINYML_OK) {
      fprintf(stderr, "run_model: invoke failed (runtime status %d)\n", (int)status);
      return 1;
    }
    fwrite(output, 1, plan->info->output.bytes, stdout);
  }
  if (got != 0) {
    fprintf(stderr, "run_model: input ends inside a tensor (%lu of %lu bytes)\n",
            (unsigned long)got, (unsigned long)plan->info->input.bytes);
    return 2;
  }
  free(input);
  free(output);
  return 0;
}
