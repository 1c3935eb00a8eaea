"""Validation and repair of a :class:`vips.Rig`: actionable errors for what cannot be fixed, warnings for
what is repaired (joint order, weight normalization, more than 8 influences)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vips.errors import RigError
from vips.skeleton import children_lists

if TYPE_CHECKING:
    from vips.rig import Rig

WEIGHT_SUM_TOLERANCE = 1e-3
#: Skin influences kept per vertex (the native skinning kernel's limit); the smallest beyond it are dropped.
MAX_INFLUENCES = 8
UP_AXES = ("Y", "Z")


def validate(rig: "Rig") -> None:
    """Check ``rig`` in place, repairing what can be repaired. Raises :class:`RigError` naming the problem."""
    _coerce_skeleton(rig)
    _check_names(rig)
    order = _topological_order(rig)
    if order is not None:
        _reorder_joints(rig, order)
    _check_finite(rig)
    _check_bind(rig)
    _check_mesh(rig)
    _check_skin(rig)
    _check_units(rig)
    for clip in rig.clips.values():
        clip.check_rig(rig.num_joints, f"rig {rig.label}")
    _check_file_parents(rig)


def _check_file_parents(rig: "Rig") -> None:
    if rig.file_parents is None:
        return
    fp = np.asarray(rig.file_parents).astype(np.int32).reshape(-1)
    if fp.shape != (rig.num_joints,) or fp[0] != -1 or not np.all(fp[1:] >= 0) or not np.all(fp < np.arange(rig.num_joints)):
        _fail(rig, "file_parents must list one parent per joint, the root first and every parent before its child")
    rig.file_parents = fp


def _fail(rig: "Rig", message: str) -> None:
    raise RigError(f"{rig.label}: {message}")


def _coerce_skeleton(rig: "Rig") -> None:
    rig.joint_names = [str(n) for n in rig.joint_names]
    J = len(rig.joint_names)
    if J == 0:
        _fail(rig, "the rig has no joints")
    rig.parents = np.asarray(rig.parents).astype(np.int32).reshape(-1)
    rig.rest_translations = np.ascontiguousarray(rig.rest_translations, dtype=np.float32)
    rig.rest_rotations = np.ascontiguousarray(rig.rest_rotations, dtype=np.float32)
    for arr, shape, what in (
        (rig.parents, (J,), "parents"),
        (rig.rest_translations, (J, 3), "rest_translations"),
        (rig.rest_rotations, (J, 4), "rest_rotations"),
    ):
        if arr.shape != shape:
            _fail(rig, f"{what} has shape {arr.shape}, expected {shape} for {J} joints")


def _check_names(rig: "Rig") -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(rig.joint_names):
        if not name:
            _fail(rig, f"joint {j} has an empty name")
        if name in seen:
            _fail(rig, f"joint name '{name}' is used twice (joints {seen[name]} and {j}); joint names must be unique")
        seen[name] = j


def _topological_order(rig: "Rig") -> np.ndarray | None:
    """None when the joints are already ordered, else the order that puts parents first."""
    J, parents, names = rig.num_joints, rig.parents, rig.joint_names
    bad = np.flatnonzero((parents < -1) | (parents >= J))
    if bad.size:
        j = int(bad[0])
        _fail(rig, f"joint '{names[j]}' has parent index {parents[j]}, outside [-1, {J})")
    roots = np.flatnonzero(parents < 0)
    _check_cycles(rig)
    if roots.size != 1:
        listed = ", ".join(f"'{names[r]}'" for r in roots[:5])
        _fail(rig, f"the skeleton has {roots.size} root joints ({listed}); it needs exactly one: add a common root joint")
    if np.all(parents < np.arange(J)):
        return None
    children = children_lists(parents)
    order, stack = [], [int(roots[0])]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return np.asarray(order, np.int64)


def _check_cycles(rig: "Rig") -> None:
    """Fail naming the joints of a cycle in the hierarchy, if there is one (linear: each joint is walked once)."""
    parents, names, J = rig.parents, rig.joint_names, rig.num_joints
    if np.all(parents < np.arange(J)):  # every parent listed before its child: no cycle is possible
        return
    state = np.zeros(J, np.int8)  # 0 unseen, 1 on the current walk, 2 known to reach a root
    for start in range(J):
        path, k = [], start
        while k >= 0 and state[k] == 0:
            state[k] = 1
            path.append(k)
            k = int(parents[k])
        if k >= 0 and state[k] == 1:  # the walk met itself
            cycle = path[path.index(k):]
            _fail(rig, f"the hierarchy has a cycle through joints {' -> '.join(names[c] for c in cycle)}")
        state[path] = 2


def _reorder_joints(rig: "Rig", order: np.ndarray) -> None:
    J = rig.num_joints
    new_index = np.empty(J, np.int64)
    new_index[order] = np.arange(J)
    old_parents = rig.parents[order]
    rig.parents = np.where(old_parents < 0, -1, new_index[np.maximum(old_parents, 0)]).astype(np.int32)
    if rig.file_parents is not None:
        fp = np.asarray(rig.file_parents)[order]
        rig.file_parents = np.where(fp < 0, -1, new_index[np.maximum(fp, 0)]).astype(np.int32)
    rig.joint_names = [rig.joint_names[i] for i in order]
    rig.rest_translations = np.ascontiguousarray(rig.rest_translations[order])
    rig.rest_rotations = np.ascontiguousarray(rig.rest_rotations[order])
    if rig.bind_matrices is not None:
        rig.bind_matrices = np.ascontiguousarray(np.asarray(rig.bind_matrices)[order])
    if rig.skin_indices is not None:
        idx = np.asarray(rig.skin_indices)
        if idx.size and (idx.min() >= 0 and idx.max() < J):
            rig.skin_indices = new_index[idx].astype(np.int32)
    for clip in rig.clips.values():
        clip.check_rig(J, f"rig {rig.label}")
        clip.rotations = np.ascontiguousarray(clip.rotations[:, order])
    rig.warn("joints were not in topological order (parents first); they were reordered")


def _first_bad(arr: np.ndarray) -> int:
    return int(np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)))[0, 0])


def _check_finite(rig: "Rig") -> None:
    for arr, what in ((rig.rest_translations, "rest translation"), (rig.rest_rotations, "rest rotation")):
        if not np.isfinite(arr).all():
            _fail(rig, f"joint '{rig.joint_names[_first_bad(arr)]}' has a NaN or infinite {what}")
    norms = np.linalg.norm(rig.rest_rotations, axis=1)
    if (norms < 1e-6).any():
        _fail(rig, f"joint '{rig.joint_names[int(np.argmin(norms))]}' has a zero rest rotation quaternion")
    rig.rest_rotations /= norms[:, None]


def _check_bind(rig: "Rig") -> None:
    if rig.bind_matrices is None:
        rig.bind_matrices = rig.rest_world_matrices()
        return
    bind = np.ascontiguousarray(rig.bind_matrices, dtype=np.float32)
    if bind.shape != (rig.num_joints, 4, 4):
        _fail(rig, f"bind_matrices has shape {bind.shape}, expected ({rig.num_joints}, 4, 4)")
    if not np.isfinite(bind).all():
        _fail(rig, f"joint '{rig.joint_names[_first_bad(bind)]}' has a NaN or infinite bind matrix")
    det = np.linalg.det(bind[:, :3, :3].astype(np.float64))
    scale = np.abs(bind[:, :3, :3]).max(axis=(1, 2)) + 1e-30
    singular = np.flatnonzero(np.abs(det) < 1e-12 * scale**3)
    if singular.size:
        _fail(rig, f"joint '{rig.joint_names[singular[0]]}' has a singular bind matrix (it cannot be inverted)")
    bind[:, 3, :] = (0, 0, 0, 1)
    rig.bind_matrices = bind


def _check_mesh(rig: "Rig") -> None:
    if rig.vertices is None:
        if rig.skin_indices is not None or rig.faces is not None:
            _fail(rig, "skin weights or faces are given without vertices")
        return
    v = np.ascontiguousarray(rig.vertices, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != 3:
        _fail(rig, f"vertices must have shape (V, 3), got {v.shape}")
    if v.shape[0] == 0:
        _fail(rig, "the mesh is empty (0 vertices)")
    if not np.isfinite(v).all():
        _fail(rig, f"vertex {_first_bad(v)} has a NaN or infinite coordinate")
    rig.vertices = v
    if rig.faces is not None:
        f = np.ascontiguousarray(rig.faces).astype(np.int32)
        if f.ndim != 2 or f.shape[1] != 3:
            _fail(rig, f"faces must be triangles of shape (F, 3), got {np.shape(rig.faces)}")
        if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
            bad = int(np.argwhere((f < 0) | (f >= v.shape[0]))[0, 0])
            _fail(rig, f"face {bad} refers to a vertex outside [0, {v.shape[0]})")
        rig.faces = f


def _check_skin(rig: "Rig") -> None:
    if rig.vertices is None:
        return
    V, J = rig.num_vertices, rig.num_joints
    if rig.skin_indices is None or rig.skin_weights is None:
        _fail(rig, "the mesh has no skin weights (every vertex needs at least one joint influence)")
    idx = np.asarray(rig.skin_indices)
    w = np.asarray(rig.skin_weights, dtype=np.float64)
    if idx.ndim != 2 or idx.shape[0] != V or w.shape != idx.shape:
        _fail(rig, f"skin indices {idx.shape} and weights {w.shape} must both have shape ({V}, K)")
    idx = idx.astype(np.int64)
    if not np.isfinite(w).all():
        _fail(rig, f"vertex {_first_bad(w)} has a NaN or infinite skin weight")
    if (w < -1e-6).any():
        _fail(rig, f"vertex {int(np.argwhere(w < -1e-6)[0, 0])} has a negative skin weight")
    w = np.maximum(w, 0)
    used = w > 0
    out_of_range = used & ((idx < 0) | (idx >= J))
    if out_of_range.any():
        v, k = np.argwhere(out_of_range)[0]
        _fail(rig, f"vertex {v} is skinned to joint index {idx[v, k]}, but the rig has {J} joints")
    idx = np.where(used, idx, 0)
    total = w.sum(axis=1)
    unweighted = np.flatnonzero(total <= 0)
    if unweighted.size:
        _fail(rig, f"{unweighted.size} vertices have no skin weight (first: vertex {unweighted[0]}); "
                   "every vertex needs at least one joint influence")
    # Sorting by weight puts the strongest influences first, as USD and engines expect.
    order = np.argsort(-w, axis=1, kind="stable")
    w, idx = np.take_along_axis(w, order, 1), np.take_along_axis(idx, order, 1)
    if w.shape[1] > MAX_INFLUENCES:
        dropped = int((w[:, MAX_INFLUENCES:] > 0).any(axis=1).sum())
        w, idx = w[:, :MAX_INFLUENCES], idx[:, :MAX_INFLUENCES]
        if dropped:
            rig.warn(f"{dropped} vertices had more than {MAX_INFLUENCES} influences; the smallest were dropped")
    total = w.sum(axis=1)
    off = int((np.abs(total - 1) > WEIGHT_SUM_TOLERANCE).sum())
    if off:
        rig.warn(f"{off} vertices had skin weights not summing to one; they were renormalized")
    rig.skin_weights = np.ascontiguousarray(w / w.sum(axis=1, keepdims=True), dtype=np.float32)
    rig.skin_indices = np.ascontiguousarray(idx, dtype=np.int32)


def _check_units(rig: "Rig") -> None:
    up = str(rig.up_axis).upper()
    if up not in UP_AXES:
        _fail(rig, f"up axis must be one of {UP_AXES}, got '{rig.up_axis}'")
    rig.up_axis = up
    mpu = float(rig.meters_per_unit)
    if not (np.isfinite(mpu) and mpu > 0):
        _fail(rig, f"metersPerUnit must be a positive number, got {rig.meters_per_unit}")
    rig.meters_per_unit = mpu
