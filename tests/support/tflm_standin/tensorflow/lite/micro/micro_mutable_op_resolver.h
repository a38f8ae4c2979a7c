// A stand-in for TFLite Micro's micro_mutable_op_resolver.h, declaring only the part of its API
// that the generated op resolvers call (method names as in TFLM's header), so their C++ can be
// compiled where TFLM's sources are not available. Not a TFLM implementation.
#ifndef TINYML_TEST_TFLM_STANDIN_MICRO_MUTABLE_OP_RESOLVER_H
#define TINYML_TEST_TFLM_STANDIN_MICRO_MUTABLE_OP_RESOLVER_H

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

namespace tflite {

template <unsigned int tOpCount>
class MicroMutableOpResolver {
 public:
  TfLiteStatus AddAdd() { return Register(); }
  TfLiteStatus AddAveragePool2D() { return Register(); }
  TfLiteStatus AddConcatenation() { return Register(); }
  TfLiteStatus AddConv2D() { return Register(); }
  TfLiteStatus AddDepthwiseConv2D() { return Register(); }
  TfLiteStatus AddDequantize() { return Register(); }
  TfLiteStatus AddExpandDims() { return Register(); }
  TfLiteStatus AddFullyConnected() { return Register(); }
  TfLiteStatus AddLogistic() { return Register(); }
  TfLiteStatus AddMaxPool2D() { return Register(); }
  TfLiteStatus AddMean() { return Register(); }
  TfLiteStatus AddMul() { return Register(); }
  TfLiteStatus AddPad() { return Register(); }
  TfLiteStatus AddPadV2() { return Register(); }
  TfLiteStatus AddQuantize() { return Register(); }
  TfLiteStatus AddRelu() { return Register(); }
  TfLiteStatus AddRelu6() { return Register(); }
  TfLiteStatus AddReshape() { return Register(); }
  TfLiteStatus AddSoftmax() { return Register(); }
  TfLiteStatus AddSqueeze() { return Register(); }
  TfLiteStatus AddTanh() { return Register(); }
  TfLiteStatus AddUnidirectionalSequenceLSTM() { return Register(); }
  TfLiteStatus AddSub() { return Register(); }
  TfLiteStatus AddMaximum() { return Register(); }
  TfLiteStatus AddMinimum() { return Register(); }
  TfLiteStatus AddLeakyRelu() { return Register(); }
  TfLiteStatus AddHardSwish() { return Register(); }
  TfLiteStatus AddResizeNearestNeighbor() { return Register(); }
  TfLiteStatus AddStridedSlice() { return Register(); }
  TfLiteStatus AddTransposeConv() { return Register(); }
  unsigned int registered() const { return count_; }

 private:
  // Like TFLM, registering more ops than the template argument allows fails.
  TfLiteStatus Register() {
    if (count_ >= tOpCount) return kTfLiteError;
    ++count_;
    return kTfLiteOk;
  }
  unsigned int count_ = 0;
};

}  // namespace tflite

#endif
