// Argument checks shared by every binding: dtype, rank, shape, contiguity and device, with errors that
// name the kernel and the argument so a user can act on them.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace vips::bind {

namespace nb = nanobind;
using Array = nb::ndarray<>;

enum class Device { CPU, CUDA };

inline std::string dtype_name(nb::dlpack::dtype t) {
  const char* kind = t.code == uint8_t(nb::dlpack::dtype_code::Float)  ? "float"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Int)  ? "int"
                     : t.code == uint8_t(nb::dlpack::dtype_code::UInt) ? "uint"
                     : t.code == uint8_t(nb::dlpack::dtype_code::Bool) ? "bool"
                                                                        : "other";
  return std::string(kind) + std::to_string(t.bits);
}

inline std::string shape_string(const Array& a) {
  std::string s = "(";
  for (size_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

[[noreturn]] inline void fail(const char* kernel, const char* arg, const std::string& what) {
  throw nb::value_error((std::string("vips.native.") + kernel + ": argument '" + arg + "' " + what).c_str());
}

inline Device device_of(const Array& a, const char* kernel, const char* arg) {
  if (a.device_type() == nb::device::cpu::value) return Device::CPU;
  if (a.device_type() == nb::device::cuda::value) return Device::CUDA;
  fail(kernel, arg, "lives on an unsupported device (only CPU and CUDA arrays are accepted)");
}

inline bool is_c_contiguous(const Array& a) {
  if (a.size() == 0) return true;  // exporters give empty arrays arbitrary strides; no element is misplaced
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= int64_t(a.shape(i));
  }
  return true;
}

// Checks dtype, rank, shape (-1 matches any extent), C-contiguity and device. Returns the device.
template <typename T>
Device check(const Array& a, const char* kernel, const char* arg, std::initializer_list<int64_t> shape) {
  if (a.dtype() != nb::dtype<T>())
    fail(kernel, arg, "must have dtype " + dtype_name(nb::dtype<T>()) + ", got " + dtype_name(a.dtype()));
  if (a.ndim() != shape.size())
    fail(kernel, arg, "must have " + std::to_string(shape.size()) + " dimensions, got shape " + shape_string(a));
  size_t i = 0;
  for (int64_t want : shape) {
    if (want >= 0 && int64_t(a.shape(i)) != want)
      fail(kernel, arg, "has shape " + shape_string(a) + " but dimension " + std::to_string(i) + " must be " +
                            std::to_string(want));
    ++i;
  }
  if (!is_c_contiguous(a)) fail(kernel, arg, "must be C-contiguous (call numpy.ascontiguousarray or .contiguous())");
  return device_of(a, kernel, arg);
}

inline void same_device(Device d, Device expected, const char* kernel, const char* arg) {
  if (d != expected) fail(kernel, arg, "lives on a different device from the first argument");
}

[[noreturn]] inline void no_cuda(const char* kernel) {
  throw nb::value_error((std::string("vips.native.") + kernel +
                         ": got CUDA arrays but this build of vips has no CUDA kernels (reinstall with a CUDA "
                         "toolkit present, VIPS_CUDA=ON)").c_str());
}

template <typename T>
T* ptr(const Array& a) { return static_cast<T*>(a.data()); }

// Points given once for every pose, (N, 3), or per pose, (B, N, 3). Returns the float stride between
// poses: 0 when shared.
inline int64_t check_points_shared_or_batched(const Array& a, const char* kernel, const char* arg, int64_t B,
                                              int64_t N, Device dev) {
  if (a.ndim() == 2) {
    same_device(check<float>(a, kernel, arg, {N, 3}), dev, kernel, arg);
    return 0;
  }
  same_device(check<float>(a, kernel, arg, {B, N, 3}), dev, kernel, arg);
  return N * 3;
}

// Topological order is what makes one pass over the joints correct; checking it costs O(J) and saves
// silent garbage. CPU arrays only (a CUDA kernel cannot be checked without a copy).
inline void check_topological(const Array& parents, const char* kernel, int64_t J) {
  const int32_t* par = ptr<int32_t>(parents);
  for (int64_t j = 0; j < J; ++j)
    if (par[j] >= j || par[j] < -1)
      fail(kernel, "parents", "must satisfy -1 <= parents[j] < j (joint " + std::to_string(j) + " has parent " +
                                  std::to_string(par[j]) + "); reorder the joints topologically");
}

}  // namespace vips::bind
