#include "common/array_checks.h"
#include "lbs/lbs.h"

namespace vips::bind {

static void lbs(const Array& vertices, const Array& skin_indices, const Array& skin_weights,
                const Array& joint_matrices, const Array& out) {
  const char* k = "lbs";
  const Device dev = check<float>(vertices, k, "vertices", {-1, 3});
  const int64_t V = vertices.shape(0);
  same_device(check<int32_t>(skin_indices, k, "skin_indices", {V, -1}), dev, k, "skin_indices");
  const int64_t K = skin_indices.shape(1);
  same_device(check<float>(skin_weights, k, "skin_weights", {V, K}), dev, k, "skin_weights");
  same_device(check<float>(joint_matrices, k, "joint_matrices", {-1, -1, 4, 4}), dev, k, "joint_matrices");
  const int64_t P = joint_matrices.shape(0), J = joint_matrices.shape(1);
  same_device(check<float>(out, k, "out", {P, V, 3}), dev, k, "out");
  if (K > 8) fail(k, "skin_indices", "has " + std::to_string(K) + " influences per vertex; at most 8 are supported");
  if (dev == Device::CPU) {
    const int32_t* idx = ptr<int32_t>(skin_indices);
    for (int64_t i = 0; i < V * K; ++i)
      if (idx[i] < 0 || idx[i] >= J)
        fail(k, "skin_indices", "holds joint index " + std::to_string(idx[i]) + " at vertex " +
                                    std::to_string(i / K) + ", outside [0, " + std::to_string(J) + ")");
    nb::gil_scoped_release release;
    lbs_cpu(ptr<float>(vertices), idx, ptr<float>(skin_weights), ptr<float>(joint_matrices), P, V, K, J,
            ptr<float>(out));
  } else {
#ifdef VIPS_WITH_CUDA
    nb::gil_scoped_release release;
    lbs_cuda(ptr<float>(vertices), ptr<int32_t>(skin_indices), ptr<float>(skin_weights),
             ptr<float>(joint_matrices), P, V, K, J, ptr<float>(out));
#else
    no_cuda(k);
#endif
  }
}

void bind_lbs(nb::module_& m) {
  m.def("lbs", &lbs, nb::arg("vertices"), nb::arg("skin_indices"), nb::arg("skin_weights"),
        nb::arg("joint_matrices"), nb::arg("out"),
        "Linear blend skinning into `out` (P, V, 3). vertices (V, 3) float32, skin_indices (V, K) int32, "
        "skin_weights (V, K) float32, joint_matrices (P, J, 4, 4) float32 skinning transforms.");
}

}  // namespace vips::bind
