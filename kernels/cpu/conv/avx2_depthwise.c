/* The depthwise convolution kernels compiled for avx2 (see depthwise_impl.h). */
#define USINE_DW_PREFIX usine_conv_dw_avx2_
#include "depthwise_impl.h"
