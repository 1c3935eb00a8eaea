#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#define VIPS_CUDA_CHECK(expr)                                                                       \
  do {                                                                                              \
    cudaError_t err_ = (expr);                                                                      \
    if (err_ != cudaSuccess)                                                                        \
      throw std::runtime_error(std::string("vips CUDA error: ") + cudaGetErrorString(err_) + " at " \
                               + __FILE__ + ":" + std::to_string(__LINE__));                        \
  } while (0)
