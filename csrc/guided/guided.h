// Guided DDIM sampling (manifold IK) with the denoiser supplied as a callback, so the same loop runs under
// Python (PoseSpace.solve_ik passes ONNX Runtime or torch through a binding) and inside an engine plugin
// (which calls ONNX Runtime's C++ API in the callback). No Python, no allocation of the caller's arrays.
//
// Pose vectors are the model's (J, 9) tokens (python/vips/pose_encoding.py), read in the body frame (canonical
// axes: Y up, unit height; heading 0). Channels 0:6 of every live joint hold M_j = W_j B_j in the 6D form (its
// first two columns, Gram-Schmidt), with W_j the joint's world delta rotation in canonical axes and B_j its rest
// reference frame; channel 7 of the body root holds its height above the ground (canonical units); every other
// channel is zero. Joints above the body root (ground and control bones, channel_mask 0) stay at rest; masked
// joints below a live one (helper joints: twist, share and zero-length end bones) keep their rest pose relative
// to their parent (they turn with it). The loop
// decodes without a placement (heading 0, the body over its rest ground position): callers express handle targets
// in that frame (PoseSpace.solve_ik does) and place the result afterwards.
//
// One DDIM step (Song et al. 2021, eq. 12, eta = 0) from level ab_t to ab_prev:
//   1. prediction = denoise(x_t, t); eps = prediction (eps model) or sqrt(ab) v + sqrt(1 - ab) x_t (v model)
//   2. x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
//   3. decode x0 to local rotations + root translation, run FK and the handle energy
//        E = sum_h w_h |p[joint_h] - target_h|^2 / height^2        (pins and look-at aims are handles too)
//      with its analytic gradient (fk_energy_cpu: right-perturbation tangent gradient per joint), carry the
//      gradient to pose-vector space (local tangents -> world torques of each joint's orientation, minus those of
//      its children, whose local rotations it also sets -> the Gram-Schmidt vector-Jacobian product); the rows
//      of the handles' Jacobian come from the same kernel (a unit handle per coordinate). Take `iterations`
//      damped least-squares (Levenberg-Marquardt) steps on x0: the smallest pose-vector change that moves the
//      handles, so the edit stays near the model's prediction
//   4. the fused DDIM update (ddim_step_cpu) with guidance = x0_raw - x0_edited, so x_prev is consistent with
//      the edited x0.
// The last step lands on ab = 1, where x_prev is the edited x0: the result meets the handles as well as the
// final iterations manage while every earlier step let the model pull the pose back onto its manifold.
#pragma once

#include <cstdint>

namespace vips {

constexpr int64_t kGuidedPoseDim = 9;

// The rig as the pose encoding sees it. Every pointer is owned by the caller.
struct GuidedRig {
  int64_t J = 0;
  const int32_t* parents = nullptr;            // (J,) topological, exactly one root (joint 0, parent -1)
  const float* rest_rotations = nullptr;       // (J, 4) local rest rotations (w, x, y, z)
  const float* rest_translations = nullptr;    // (J, 3) local rest translations, asset units
  const float* frames = nullptr;               // (J, 3, 3) G_j, row-major: rest world rotation, canonical axes
  const float* reference_frames = nullptr;     // (J, 3, 3) B_j, row-major: rest reference frame, canonical axes
  const float* channel_mask = nullptr;         // (J, 9) 1 on live channels: 0:6 of every joint below the body
                                               // root (itself included), 7 of the body root
  const float* canonical_rotation = nullptr;   // (3, 3) row-major rotation taking asset axes to canonical axes
  int64_t body_root = 0;                       // the joint whose channel 7 holds the body's height
  float rest_body_height = 0.0f;               // the body root's rest height above the ground, canonical units
  float height = 1.0f;                         // the rig's height in asset units
};

// Handles: joint -> target position (asset space and units), weight. Pinned joints are handles whose targets
// are their current positions. Aims (look-at) turn the bone from joint aim_base[a] to joint aim_end[a]
// towards aim_targets[a]: each iteration they become a handle on aim_end at
// p[base] + |bone| * unit(target - p[base]), recomputed from the current pose.
struct GuidedHandles {
  int64_t H = 0;
  const int32_t* joints = nullptr;   // (H,)
  const float* targets = nullptr;    // (H, 3), or (B, H, 3) when target_batch_stride == H * 3
  int64_t target_batch_stride = 0;
  const float* weights = nullptr;    // (H,)
  int64_t A = 0;
  const int32_t* aim_base = nullptr;     // (A,)
  const int32_t* aim_end = nullptr;      // (A,)
  const float* aim_targets = nullptr;    // (A, 3), shared by the batch
  const float* aim_weights = nullptr;    // (A,)
};

struct GuidedSchedule {
  int64_t steps = 0;
  const double* alpha_bars = nullptr;  // (steps + 1,) decreasing noise: alpha_bars[0] < ... <= alpha_bars[steps]
  const double* times = nullptr;       // (steps + 1,) the denoiser's time of each level
  bool v_prediction = true;            // the denoiser predicts velocity (else noise)
  float damping = 1e-2f;               // initial Levenberg-Marquardt damping (canonical units^2; adapted per pose)
  int iterations = 2;                  // damped least-squares steps on x0 at every denoising step
  int final_iterations = 6;            // extra steps at the last denoising step
  float clamp = 0.0f;                  // > 0 clips predicted x0 to [-clamp, clamp]
};

// Writes the denoiser's prediction (noise or velocity, per GuidedSchedule::v_prediction) for x_t (B, J, 9) at
// time t into prediction (B, J, 9). Returns 0 on success; anything else stops the loop and is returned.
using GuidedDenoiseFn = int (*)(void* user, const float* x_t, int64_t B, int64_t J, float t, float* prediction);

// Runs the guided DDIM loop for B poses from x_T (B, J, 9) and writes the clean pose vectors x0 (B, J, 9),
// the final handle energy (B,) (height-normalized, aims included) and world joint positions (B, J, 3) of the
// result (positions may be null). Returns 0, or the callback's nonzero code.
int guided_sample_cpu(const GuidedRig& rig, const GuidedHandles& handles, const GuidedSchedule& schedule,
                      GuidedDenoiseFn denoise, void* user, int64_t B, const float* x_T, float* x0, float* energy,
                      float* positions);

// The height-normalized handle energy of pose vectors x (B, J, 9) and its gradient with respect to x
// (B, J, 9) (the chain rule step 3 above uses); positions (B, J, 3) may be null. Aim targets are computed from
// the pose itself (and held fixed for the gradient).
void guided_energy_grad_cpu(const GuidedRig& rig, const GuidedHandles& handles, int64_t B, const float* x,
                            float* energy, float* grad, float* positions);

// Pose vectors (B, J, 9) -> local rotations (B, J, 4) (w, x, y, z) and local translations (B, J, 3).
void guided_decode_cpu(const GuidedRig& rig, int64_t B, const float* x, float* local_rotations,
                       float* local_translations);

}  // namespace vips
