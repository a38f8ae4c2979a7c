#include "tinyml/strips.h"

#include <string.h>

#include "tinyml/op_conv.h"
#include "tinyml/op_elementwise.h"
#include "tinyml/op_pooling.h"

/* A writable copy of one layer's parameters, the fields a band narrows in it, and the layer's
 * own geometry along the height axis. */
typedef struct {
  union {
    tinyml_conv2d_params conv;
    tinyml_depthwise_conv2d_params depthwise;
    tinyml_pool2d_params pool;
    tinyml_add_params add;
  } copy;
  uint32_t *input, *output;
  int32_t *input_h, *output_h, *pad_top;
  int32_t in_h, out_h, stride_h, pad_top0, filter_h, dilation_h, in_row, out_row;
  tinyml_kernel run;
  uint32_t *other;  /* an ADD's other input (a whole tensor), else NULL */
  uint32_t other0;  /* its offset */
  int32_t unused[3]; /* an ADD's stand-ins for the heights and padding it has not */
} stage_state;

static void stage_init(stage_state *s, tinyml_kernel run, const void *params, int32_t kind,
                       const stage_state *previous) {
  s->run = run;
  s->other = NULL;
  if (kind == TINYML_STRIPS_ADD_INPUT1 || kind == TINYML_STRIPS_ADD_INPUT2) {
    /* Elementwise on equal shapes: output row y from input rows y; the previous stage's
     * rows and heights. */
    tinyml_add_params *p = &s->copy.add;
    *p = *(const tinyml_add_params *)params;
    s->input = kind == TINYML_STRIPS_ADD_INPUT1 ? &p->input1.offset : &p->input2.offset;
    s->other = kind == TINYML_STRIPS_ADD_INPUT1 ? &p->input2.offset : &p->input1.offset;
    s->other0 = *s->other;
    s->output = &p->output;
    s->input_h = &s->unused[0], s->output_h = &s->unused[1], s->pad_top = &s->unused[2];
    s->stride_h = 1, s->filter_h = 1, s->dilation_h = 1;
    s->in_row = s->out_row = previous->out_row;
    s->in_h = s->out_h = previous->out_h, s->pad_top0 = 0;
    p->dims[TINYML_MAX_RANK - 1] = s->out_row; /* one row per call */
    return;
  }
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
  if (s->other != NULL) *s->other = s->other0 + (uint32_t)(y0 * s->out_row);
  s->run(&s->copy, arena);
}

void tinyml_run_strips(const void *params, uint8_t *arena) {
  const tinyml_strips_params *p = (const tinyml_strips_params *)params;
  stage_state s;
  int32_t bands, i;
  uint32_t input, output;
  stage_init(&s, p->run, p->params, p->kind, NULL);
  input = *s.input, output = *s.output;
  bands = (s.out_h + p->rows - 1) / p->rows;
  for (i = 0; i < bands; ++i) {
    const int32_t y0 = (p->reverse ? bands - 1 - i : i) * p->rows;
    const int32_t y1 = y0 + p->rows < s.out_h ? y0 + p->rows : s.out_h;
    stage_rows(&s, y0, y1, input, 0, output + (uint32_t)(y0 * s.out_row), arena);
  }
}

/* Depth first: makes stage i's rows [.., need_hi) available in window i, computing them from
 * stage i - 1's, which it first makes available in turn. Rows no later row of stage i + 1 reads
 * are dropped from the window's front. */
typedef struct {
  const tinyml_fused_params *p;
  stage_state stages[TINYML_MAX_STAGES];
  int32_t lo[TINYML_MAX_STAGES], hi[TINYML_MAX_STAGES]; /* window i holds stage i's [lo, hi) */
  uint32_t input;
  uint8_t *arena;
} fused_run;

/* The rows of stage i's input that its output rows [y0, y1) read, clipped to the tensor. */
static void needed(const stage_state *s, int32_t y0, int32_t y1, int32_t *lo, int32_t *hi) {
  const int32_t top = y0 * s->stride_h - s->pad_top0;
  const int32_t end = (y1 - 1) * s->stride_h - s->pad_top0 + (s->filter_h - 1) * s->dilation_h + 1;
  *lo = top > 0 ? top : 0;
  *hi = end < s->in_h ? end : s->in_h;
}

static void run_stage(fused_run *r, int32_t i, int32_t y0, int32_t y1, uint32_t output) {
  stage_state *s = &r->stages[i];
  if (i == 0) {
    stage_rows(s, y0, y1, r->input, 0, output, r->arena);
    return;
  }
  {
    const int32_t previous = i - 1;
    const int32_t row = r->stages[previous].out_row;
    const uint32_t window = r->p->windows[previous];
    int32_t need_lo, need_hi;
    needed(s, y0, y1, &need_lo, &need_hi);
    if (need_lo > r->lo[previous]) {
      if (r->hi[previous] > need_lo) {
        memmove(r->arena + window, r->arena + window + (uint32_t)((need_lo - r->lo[previous]) * row),
                (size_t)((r->hi[previous] - need_lo) * row));
      } else {
        r->hi[previous] = need_lo;
      }
      r->lo[previous] = need_lo;
    }
    if (r->hi[previous] < need_hi) {
      run_stage(r, previous, r->hi[previous], need_hi,
                window + (uint32_t)((r->hi[previous] - r->lo[previous]) * row));
      r->hi[previous] = need_hi;
    }
    stage_rows(s, y0, y1, window, r->lo[previous], output, r->arena);
  }
}

void tinyml_run_fused(const void *params, uint8_t *arena) {
  fused_run r;
  int32_t i, y;
  uint32_t output;
  const stage_state *last;
  r.p = (const tinyml_fused_params *)params;
  r.arena = arena;
  /* A convolution into a 2x2 max pool: one pass where the build has one (op_conv.h). */
  if (r.p->count == 2 && r.p->stages[0].kind == TINYML_STRIPS_CONV2D &&
      r.p->stages[1].run == tinyml_max_pool2d_s8 &&
      tinyml_conv2d_pool_s8((const tinyml_conv2d_params *)r.p->stages[0].params,
                            r.p->stages[1].params, arena)) {
    return;
  }
  for (i = 0; i < r.p->count; ++i) {
    stage_init(&r.stages[i], r.p->stages[i].run, r.p->stages[i].params, r.p->stages[i].kind,
               i > 0 ? &r.stages[i - 1] : NULL);
    r.lo[i] = r.hi[i] = 0;
  }
  r.input = *r.stages[0].input;
  last = &r.stages[r.p->count - 1];
  output = *last->output;
  for (y = 0; y < last->out_h; ++y) {
    run_stage(&r, r.p->count - 1, y, y + 1, output + (uint32_t)(y * last->out_row));
  }
}
