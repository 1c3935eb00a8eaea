// Forward kinematics plus a joint-position energy and its analytic gradient, for guided sampling
// (manifold IK) without backpropagating through a network or an autograd graph.
//
//   E_b = sum_h w_h * || p_b[joint_h] - target_bh ||^2
//
// where p_b[j] is joint j's world position after FK (same convention as fk/fk.h:
// world_j = world_parent(j) @ [R(q_j) | t_j]).
//
// Rotation gradient: grad_rotation[b, j] = dE/domega at omega = 0 for the RIGHT (body-frame) perturbation
//   R_j <- R_j @ exp([omega]_x),
// i.e. a tangent vector in joint j's own local frame after its rotation. Derivation: with W_j the world
// rotation of joint j, the perturbation moves every joint k in j's subtree by (W_j omega) x (p_k - p_j), so
//   dE/domega = W_j^T sum_{h in subtree(j)} (p_h - p_j) x f_h,   f_h = 2 w_h (p_h - t_h).
// Writing F_j = sum_{h in subtree(j)} f_h and M_j = sum_{h in subtree(j)} (p_h - c) x f_h (c any point;
// we take the pose's first joint to keep float32 moments small), this is W_j^T (M_j - (p_j - c) x F_j):
// one forward pass for FK and one reverse pass that adds F and M into the parent, O(J + H) per pose.
//
// Translation gradient: grad_translation[b, j] = dE/dt_j for every joint's LOCAL translation t_j, which is
// W_parent(j)^T F_j (for a root, the world-space force sum F_j: the root translation gradient).
#pragma once

#include <cstdint>

namespace vips {

// local_rotations (B, J, 4) quaternions (w, x, y, z) (normalized internally); local_translations (B, J, 3) or
// (J, 3) when translation_batch_stride == 0; parents (J,) topological (parents[j] < j, -1 for roots).
// handle_joints (H,) in [0, J) (handles out of range are ignored by the kernel: the binding rejects them);
// handle_targets (B, H, 3), or (H, 3) when target_batch_stride == 0; handle_weights (H,).
// Outputs: energy (B,), positions (B, J, 3) world joint positions, grad_rotation (B, J, 3),
// grad_translation (B, J, 3).
void fk_energy_cpu(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
                   const int32_t* parents, const int32_t* handle_joints, const float* handle_targets,
                   int64_t target_batch_stride, const float* handle_weights, int64_t B, int64_t J, int64_t H,
                   float* energy, float* positions, float* grad_rotation, float* grad_translation);

#ifdef VIPS_WITH_CUDA
void fk_energy_cuda(const float* local_rotations, const float* local_translations, int64_t translation_batch_stride,
                    const int32_t* parents, const int32_t* handle_joints, const float* handle_targets,
                    int64_t target_batch_stride, const float* handle_weights, int64_t B, int64_t J, int64_t H,
                    float* energy, float* positions, float* grad_rotation, float* grad_translation);
#endif

}  // namespace vips
