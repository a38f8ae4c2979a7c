#include "tinyml/strips.h"

#include <string.h>

#include "tinyml/op_conv.h"
#include "tinyml/op_pooling.h"

/* A writable copy of one layer's parameters, the fields a band narrows in it, and the layer's
 * own geometry along the height axis. */
typedef struct {
  union {
    tinyml_conv2d_params conv;
    tinyml_depthwise_conv2d_params depthwise;
    tinyml_pool2d_params pool;
  } copy;
  uint32_t *input, *output;
  int32_t *input_h, *output_h, *pad_top;
  int32_t in_h, out_h, stride_h, pad_top0, filter_h, dilation_h, in_row, out_row;
  tinyml_kernel run;
} stage_state;

static void stage_init(stage_state *s, tinyml_kernel run, const void *params, int32_t kind) {
  s->run = run;
  if (kind == TINYML_STRIPS_CONV2D) {
    tinyml_conv2d_params *p = &s->copy.conv;
    *p = *(const tinyml_conv2d_params *)params;
    s->input = &p->input, s->output = &p->output;
    s->input_h = &p->input_h, s->output_h = &p->output_h, s->pad_top = &p->pad_top;
    s->stride_h = p->stride_h, s->filter_h = p->filter_h, s->dilation_h = p->dilation_h;
    s->in_row = p->input_w * p->input_c, s->out_row = p->output_w * p->output_c;
  } else if (kind == TINYML_STRIPS_DEPTHWISE_CONV2D) {
    tinyml_depthwise_conv2d_params *p = &s->copy.depthwise;
    *p = *(const tinyml_depthwise_conv2d_params *)params;
    s->input = &p->input, s->output = &p->output;
    s->input_h = &p->input_h, s->output_h = &p->output_h, s->pad_top = &p->pad_top;
    s->stride_h = p->stride_h, s->filter_h = p->filter_h, s->dilation_h = p->dilation_h;
    s->in_row = p->input_w * p->input_c, s->out_row = p->output_w * p->output_c;
  } else {
    tinyml_pool2d_params *p = &s->copy.pool;
    *p = *(const tinyml_pool2d_params *)params;
    s->input = &p->input, s->output = &p->output;
    s->input_h = &p->input_h, s->output_h = &p->output_h, s->pad_top = &p->pad_top;
    s->stride_h = p->stride_h, s->filter_h = p->filter_h, s->dilation_h = 1;
    s->in_row = p->input_w * p->channels, s->out_row = p->output_w * p->channels;
  }
  s->in_h = *s->input_h, s->out_h = *s->output_h, s->pad_top0 = *s->pad_top;
}

/* Runs output rows [y0, y1). `input` is the arena offset holding input row `input_lo` (the
 * rows the band reads follow it), `output` where row y0 goes. */
static void stage_rows(stage_state *s, int32_t y0, int32_t y1, uint32_t input, int32_t input_lo,
                       uint32_t output, uint8_t *arena) {
  /* The band's first input row; above it the kernel sees the top padding that is left. */
  const int32_t first = y0 * s->stride_h - s->pad_top0;
  if (first > 0) {
    *s->input = input + (uint32_t)((first - input_lo) * s->in_row);
    *s->input_h = s->in_h - first;
    *s->pad_top = 0;
  } else {
    *s->input = input - (uint32_t)(input_lo * s->in_row); /* input_lo is 0 here */
    *s->input_h = s->in_h;
    *s->pad_top = -first;
  }
  *s->output = output;
  *s->output_h = y1 - y0;
  s->run(&s->copy, arena);
}

void tinyml_run_strips(const void *params, uint8_t *arena) {
  const tinyml_strips_params *p = (const tinyml_strips_params *)params;
  stage_state s;
  int32_t bands, i;
  uint32_t input, output;
  stage_init(&s, p->run, p->params, p->kind);
  input = *s.input, output = *s.output;
  bands = (s.out_h + p->rows - 1) / p->rows;
  for (i = 0; i < bands; ++i) {
    const int32_t y0 = (p->reverse ? bands - 1 - i : i) * p->rows;
    const int32_t y1 = y0 + p->rows < s.out_h ? y0 + p->rows : s.out_h;
    stage_rows(&s, y0, y1, input, 0, output + (uint32_t)(y0 * s.out_row), arena);
  }
}

void tinyml_run_fused(const void *params, uint8_t *arena) {
  const tinyml_fused_params *p = (const tinyml_fused_params *)params;
  stage_state a, b;
  int32_t lo = 0, hi = 0, y; /* the window holds the first stage's rows [lo, hi) */
  uint32_t input, output;
  stage_init(&a, p->first.run, p->first.params, p->first.kind);
  stage_init(&b, p->second.run, p->second.params, p->second.kind);
  input = *a.input, output = *b.output;
  for (y = 0; y < b.out_h; ++y) {
    /* The first stage's rows that output row y of the second reads. */
    const int32_t top = y * b.stride_h - b.pad_top0;
    const int32_t need_lo = top > 0 ? top : 0;
    const int32_t end = top + (b.filter_h - 1) * b.dilation_h + 1;
    const int32_t need_hi = end < a.out_h ? end : a.out_h;
    if (need_lo > lo) { /* rows above need_lo are read by no later row: drop them */
      if (hi > need_lo) {
        memmove(arena + p->window, arena + p->window + (uint32_t)((need_lo - lo) * a.out_row),
                (size_t)((hi - need_lo) * a.out_row));
      } else {
        hi = need_lo;
      }
      lo = need_lo;
    }
    if (hi < need_hi) {
      stage_rows(&a, hi, need_hi, input, 0, p->window + (uint32_t)((hi - lo) * a.out_row), arena);
      hi = need_hi;
    }
    stage_rows(&b, y, y + 1, p->window, lo, output + (uint32_t)(y * b.out_row), arena);
  }
}
