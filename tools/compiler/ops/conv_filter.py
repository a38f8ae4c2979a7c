"""Where a CONV_2D's filter values lie for the DSP kernel (blocks of 4, runs starting on a
block), and the filter's widened int16 form."""

from __future__ import annotations

import numpy as np


def conv_filter_layout(filter_h: int, filter_w: int, filter_c: int, input_c: int, input_w: int,
                       dilation_h: int, dilation_w: int) -> tuple[int, int, int]:
    """(depth, row_stride, tap_stride): where CONV_2D's filter values lie, per output channel.

    Tap (fy, fx) of a filter starts at fy * row_stride + fx * tap_stride; depth, a multiple of 4,
    is the values per filter, the gaps zero. The DSP kernel widens the input in blocks of 4 values
    and its dot product reads 4 weights at a time, so a run of values that lie next to each other
    in the input (a filter row when the rows are contiguous: no dilation across, no groups; else a
    tap's channels) starts a new block; the values a run's last block has past the run then meet
    zero weights, whatever the kernel leaves there. Not worth it when the whole patch is one run,
    or when the gaps would add more than a quarter: then the values are dense (row_stride
    filter_w * filter_c, tap_stride filter_c) and only the end is padded."""
    values = filter_h * filter_w * filter_c
    dense = (values + -values % 4, filter_w * filter_c, filter_c)
    rows_contiguous = dilation_w == 1 and filter_c == input_c
    if rows_contiguous and (filter_h == 1 or (dilation_h == 1 and filter_w == input_w)):
        return dense
    if rows_contiguous:
        row = filter_w * filter_c + -(filter_w * filter_c) % 4
        candidate = (filter_h * row, row, filter_c)
    else:
        tap = filter_c + -filter_c % 4
        candidate = (filter_h * filter_w * tap, filter_w * tap, tap)
    return candidate if 4 * candidate[0] <= 5 * dense[0] else dense


def conv_filter_values(weights: np.ndarray, depth: int, row_stride: int,
                       tap_stride: int) -> np.ndarray:
    """The [out_c, filter_h, filter_w, filter_c] weights laid out as conv_filter_layout says:
    [out_c, depth], zeros in the gaps."""
    out_c, filter_h, filter_w, filter_c = weights.shape
    values = np.zeros((out_c, depth), dtype=np.int8)
    for fy in range(filter_h):
        for fx in range(filter_w):
            start = fy * row_stride + fx * tap_stride
            values[:, start:start + filter_c] = weights[:, fy, fx, :]
    return values




def conv_filter_wide(values: np.ndarray) -> np.ndarray:
    """The [out_c, depth] int8 filter as the kernels' widened form, int32 words of two int16
    lanes (bits 0..15 the first): each block of 4 weights (w0, w1, w2, w3) becomes the words
    (w0, w2) and (w1, w3), the pairs SXTB16 would make of the block's word and of the word
    rotated by 8, which line up with the im2col column's words. Words, so the array is aligned
    for LDRD."""
    out_c, depth = values.shape
    lanes = values.astype(np.int64).reshape(out_c, depth // 4, 4)[:, :, [0, 2, 1, 3]]
    lanes = lanes.reshape(-1, 2)
    return ((lanes[:, 0] & 0xFFFF) | (lanes[:, 1] << 16)).astype(np.int32)
