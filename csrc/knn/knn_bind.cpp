#include <limits>
#include <string>

#include "common/array_checks.h"
#include "knn/knn.h"

namespace vips::bind {

static void check_lengths(const Array& lengths, const char* k, const char* arg, int64_t limit, const char* dim) {
  const int64_t* l = ptr<int64_t>(lengths);
  for (size_t i = 0; i < lengths.shape(0); ++i)
    if (l[i] < 0 || l[i] > limit)
      fail(k, arg, "holds " + std::to_string(l[i]) + " at batch element " + std::to_string(i) +
                       ", outside [0, " + std::to_string(limit) + "] (" + dim + ")");
}

static void knn(const Array& a, const Array& b, const Array& lengths_a, const Array& lengths_b, const Array& dist,
                const Array& idx) {
  const char* k = "knn";
  const Device dev = check<float>(a, k, "a", {-1, -1, 3});
  const int64_t B = a.shape(0), N = a.shape(1);
  same_device(check<float>(b, k, "b", {B, -1, 3}), dev, k, "b");
  const int64_t M = b.shape(1);
  same_device(check<int64_t>(lengths_a, k, "lengths_a", {B}), dev, k, "lengths_a");
  same_device(check<int64_t>(lengths_b, k, "lengths_b", {B}), dev, k, "lengths_b");
  same_device(check<float>(dist, k, "dist", {B, N, -1}), dev, k, "dist");
  const int64_t K = dist.shape(2);
  same_device(check<int64_t>(idx, k, "idx", {B, N, K}), dev, k, "idx");
  if (K < 1 || K > kKnnMaxK)
    fail(k, "k", "is " + std::to_string(K) + "; it must be between 1 and " + std::to_string(kKnnMaxK));
  if (M > std::numeric_limits<int32_t>::max()) fail(k, "b", "has more than 2^31 - 1 points per cloud");
  if (dev == Device::CPU) {
    check_lengths(lengths_a, k, "lengths_a", N, "the number of points per cloud in a");
    check_lengths(lengths_b, k, "lengths_b", M, "the number of points per cloud in b");
    nb::gil_scoped_release release;
    knn_cpu(ptr<float>(a), ptr<float>(b), ptr<int64_t>(lengths_a), ptr<int64_t>(lengths_b), B, N, M, K,
            ptr<float>(dist), ptr<int64_t>(idx));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    knn_cuda(ptr<float>(a), ptr<float>(b), ptr<int64_t>(lengths_a), ptr<int64_t>(lengths_b), B, N, M, K,
             ptr<float>(dist), ptr<int64_t>(idx));
#else
    no_cuda(k);
#endif
  }
}

void bind_knn(nb::module_& m) {
  m.def("knn", &knn, nb::arg("a"), nb::arg("b"), nb::arg("lengths_a"), nb::arg("lengths_b"), nb::arg("dist"),
        nb::arg("idx"),
        "K nearest neighbours in b of each point of a, into `dist` (B, N, K) float32 squared distances and "
        "`idx` (B, N, K) int64 indices, ascending. a (B, N, 3) float32, b (B, M, 3) float32, lengths_a and "
        "lengths_b (B,) int64 valid points per cloud. Slots without a neighbour get inf and -1.");
}

}  // namespace vips::bind
