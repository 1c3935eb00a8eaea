"""RigNet rig text files (``NAME_rig.txt``) with their OBJ mesh (``NAME.obj``), as auto-riggers emit them.

The rig file holds one record per line::

    joints NAME X Y Z            world position of a joint (bind pose)
    root NAME                    the root joint
    hier PARENT CHILD            one bone
    skin VERTEX NAME W NAME W... influences of OBJ vertex VERTEX (0-based, in the OBJ's ``v`` order)

The format stores no rotations and no units: joints read with identity rest rotations, rest translations
``position - parent position`` and bind transforms equal to the rest world transforms; the rig is tagged
Y up and ``meters_per_unit = 1.0`` (RigNet's own data is normalized to a unit-height box, so "units" is the
honest answer; callers who know better set ``rig.meters_per_unit``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vips.errors import AssetError, RigError
from vips.io.atomic import atomic_path
from vips.io.guard import resolve_inside
from vips.io.names import UniqueNames
from vips.io.obj import format_float, parse_float, read_obj, read_text_lines, write_obj
from vips.rig import Rig
from vips.rig_validation import MAX_INFLUENCES

RIG_SUFFIX = "_rig"


# ----- finding the pair of files -------------------------------------------------------------------
def rignet_pair(path: str | os.PathLike[str]) -> tuple[Path, Path | None, list[Path]]:
    """The rig text file and mesh of the RigNet asset that ``path`` (either half) belongs to.

    ``NAME.obj`` pairs with ``NAME_rig.txt`` (else ``NAME.txt``); ``NAME_rig.txt`` and ``NAME.txt`` pair with
    ``NAME.obj``. Returns (rig txt, obj or None when the rig has no mesh file, the mesh paths looked for).
    Raises :class:`AssetError` naming the paths looked for when an OBJ has no rig file.
    """
    path = Path(path)
    if path.suffix.lower() == ".obj":
        candidates = [path.with_name(path.stem + RIG_SUFFIX + ".txt"), path.with_suffix(".txt")]
        for txt in candidates:
            if _beside(path, txt):
                return txt, path, [path]
        raise AssetError(
            f"{path}: no RigNet rig file beside this mesh; looked for {candidates[0]} and {candidates[1]}"
        )
    stem = path.stem
    base = stem[: -len(RIG_SUFFIX)] if stem.endswith(RIG_SUFFIX) and len(stem) > len(RIG_SUFFIX) else stem
    meshes = [path.with_name(base + ".obj")]
    if base != stem:
        meshes.append(path.with_name(stem + ".obj"))
    return path, next((m for m in meshes if _beside(path, m)), None), meshes


def _beside(path: Path, other: Path) -> bool:
    """Whether the other half ``other`` of the RigNet pair ``path`` exists; AssetError naming both when it is
    a symlink out of the folder or not a regular file (see :func:`vips.io.guard.resolve_inside`)."""
    return resolve_inside(path, other.name, "its RigNet pair", must_exist=False) is not None


# ----- parsing the rig text ------------------------------------------------------------------------
@dataclass
class _RigText:
    names: list[str] = field(default_factory=list)
    positions: list[tuple[float, float, float]] = field(default_factory=list)
    where_defined: dict[str, str] = field(default_factory=dict)
    root: str | None = None
    root_where: str = ""
    bones: list[tuple[str, str, str]] = field(default_factory=list)  # (parent, child, file:line)
    parent_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # child -> (parent, file:line)
    skin: list[tuple[int, list[tuple[str, float]], str]] = field(default_factory=list)


def _known(text: _RigText, name: str, where: str, role: str) -> str:
    if name not in text.where_defined:
        raise AssetError(f"{where}: {role} '{name}' is not declared by a 'joints' line")
    return name


def _parse_joint(text: _RigText, tokens: list[str], where: str) -> None:
    if len(tokens) != 5:
        raise AssetError(f"{where}: expected 'joints NAME X Y Z', got {len(tokens) - 1} fields")
    name = tokens[1]
    if name in text.where_defined:
        raise AssetError(f"{where}: joint '{name}' is declared twice (first at {text.where_defined[name]})")
    try:
        xyz = tuple(float(t) for t in tokens[2:5])
    except ValueError:
        raise AssetError(f"{where}: joint '{name}' position {' '.join(tokens[2:5])} is not three numbers") from None
    if not np.isfinite(xyz).all():
        raise RigError(f"{where}: joint '{name}' has a NaN or infinite position {' '.join(tokens[2:5])}")
    text.names.append(name)
    text.positions.append(xyz)  # type: ignore[arg-type]
    text.where_defined[name] = where


def _parse_root(text: _RigText, tokens: list[str], where: str) -> None:
    if len(tokens) != 2:
        raise AssetError(f"{where}: expected 'root NAME', got {len(tokens) - 1} fields")
    if text.root is not None and text.root != tokens[1]:
        raise RigError(f"{where}: a second root '{tokens[1]}' (the root is already '{text.root}' at {text.root_where})")
    text.root, text.root_where = tokens[1], where


def _parse_hier(text: _RigText, tokens: list[str], where: str) -> None:
    if len(tokens) != 3:
        raise AssetError(f"{where}: expected 'hier PARENT CHILD', got {len(tokens) - 1} fields")
    text.bones.append((tokens[1], tokens[2], where))


def _link_bones(text: _RigText) -> None:
    """Resolve the hier lines once every joint is declared (the file may list them in any order)."""
    for parent, child, where in text.bones:
        _known(text, parent, where, "parent joint")
        _known(text, child, where, "child joint")
        if parent == child:
            raise RigError(f"{where}: joint '{child}' is its own parent (a cycle)")
        if child in text.parent_of:
            first, first_where = text.parent_of[child]
            if first != parent:
                raise RigError(
                    f"{where}: joint '{child}' has two parents, '{first}' (at {first_where}) and '{parent}'"
                )
        text.parent_of[child] = (parent, where)


def _parse_skin(text: _RigText, tokens: list[str], where: str) -> None:
    if len(tokens) < 4 or len(tokens) % 2:
        raise AssetError(f"{where}: expected 'skin VERTEX JOINT WEIGHT [JOINT WEIGHT ...]'")
    try:
        vertex = int(tokens[1])
    except ValueError:
        raise AssetError(f"{where}: vertex index '{tokens[1]}' is not an integer") from None
    influences = []
    for name, weight in zip(tokens[2::2], tokens[3::2]):
        w = parse_float(weight, where, f"weight of joint '{name}'")
        if w < 0:
            raise AssetError(f"{where}: weight of joint '{name}' is negative ({weight})")
        influences.append((name, w))
    text.skin.append((vertex, influences, where))


_PARSERS = {"joints": _parse_joint, "root": _parse_root, "hier": _parse_hier, "skin": _parse_skin}


def _parse_rig_text(path: Path) -> _RigText:
    text = _RigText()
    for number, line in enumerate(read_text_lines(path), start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        parser = _PARSERS.get(tokens[0])
        if parser is None:
            raise AssetError(
                f"{path}:{number}: unknown record '{tokens[0]}'; RigNet rig lines start with joints, root, hier or skin"
            )
        parser(text, tokens, f"{path}:{number}")
    if not text.names:
        raise AssetError(f"{path}: no 'joints' lines; this is not a RigNet rig file")
    _link_bones(text)
    return text


# ----- building the rig ----------------------------------------------------------------------------
def _find_root(text: _RigText, path: Path) -> str:
    if text.root is not None:
        root = _known(text, text.root, text.root_where, "root")
        if root in text.parent_of:
            parent, where = text.parent_of[root]
            raise RigError(f"{where}: the root joint '{root}' is given a parent '{parent}'")
        return root
    orphans = [n for n in text.names if n not in text.parent_of]
    if len(orphans) != 1:
        listed = ", ".join(f"'{n}'" for n in orphans[:5]) or "none"
        raise RigError(
            f"{path}: no 'root' line, and {len(orphans)} joints have no parent ({listed}); add 'root NAME'"
        )
    return orphans[0]


def _check_cycles(text: _RigText) -> None:
    done: set[str] = set()
    for start in text.names:
        chain: list[str] = []
        on_chain: set[str] = set()  # the chain as a set: a long chain is walked once, not once per joint
        node: str | None = start
        while node is not None and node not in done:
            if node in on_chain:
                cycle = chain[chain.index(node):] + [node]
                joints = " -> ".join(reversed(cycle))
                raise RigError(f"{text.parent_of[node][1]}: the hier lines form a cycle through joints {joints}")
            chain.append(node)
            on_chain.add(node)
            node = text.parent_of[node][0] if node in text.parent_of else None
        done.update(chain)


def _joint_order(text: _RigText, root: str, path: Path) -> list[str]:
    """Parents-first order: the file's order when it already is, else depth first from the root."""
    rank = {n: i for i, n in enumerate(text.names)}
    children: dict[str, list[str]] = {n: [] for n in text.names}
    for child in text.names:  # file order of the joints lines keeps siblings in a stable order
        if child in text.parent_of:
            children[text.parent_of[child][0]].append(child)
    order, stack = [], [root]
    while stack:
        name = stack.pop()
        order.append(name)
        stack.extend(reversed(children[name]))
    if len(order) != len(text.names):
        reached = set(order)
        lost = [n for n in text.names if n not in reached]
        raise RigError(
            f"{path}: {len(lost)} joints are not connected to the root '{root}' by hier lines "
            f"({', '.join(repr(n) for n in lost[:5])})"
        )
    if text.names[0] == root and all(rank[text.parent_of[n][0]] < rank[n] for n in text.names[1:]):
        return list(text.names)
    return order


def _local_translations(positions: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(J, 3) float32 ``position - parent position``, rounded once from the exact difference.

    Float32 forward kinematics of these reproduces the positions to float32 round-off, not always bit for
    bit (the float32 sum of a parent position and a bone cannot land on every float32); the bind matrices
    keep the file's positions exactly.
    """
    parent_pos = np.where(parents[:, None] >= 0, positions[np.maximum(parents, 0)], 0).astype(np.float64)
    return (positions.astype(np.float64) - parent_pos).astype(np.float32)


def _skin_arrays(text: _RigText, index: dict[str, int], num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    per_vertex: dict[int, dict[int, float]] = {}
    for vertex, influences, where in text.skin:
        if not 0 <= vertex < num_vertices:
            raise AssetError(
                f"{where}: vertex {vertex} is outside the mesh's {num_vertices} vertices [0, {num_vertices})"
            )
        if vertex in per_vertex:
            raise AssetError(f"{where}: vertex {vertex} has a second skin line")
        weights: dict[int, float] = {}
        for name, w in influences:  # a joint named twice on one line: its weights add up
            _known(text, name, where, "skinned joint")
            weights[index[name]] = weights.get(index[name], 0.0) + w
        per_vertex[vertex] = weights
    # Rig validation keeps the 8 largest influences and reports vertices that had more; one more than that
    # keeps its report exact while a line naming thousands of joints cannot make (V, K) arrays of any size.
    K = min(max((len(w) for w in per_vertex.values()), default=1), MAX_INFLUENCES + 1)
    skin_indices = np.zeros((num_vertices, K), np.int32)
    skin_weights = np.zeros((num_vertices, K), np.float32)
    for vertex, weights in per_vertex.items():
        pairs = list(weights.items())
        if len(pairs) > K:  # largest first; a stable sort keeps the file's order among equal weights
            pairs = sorted(pairs, key=lambda jw: -jw[1])[:K]
        skin_indices[vertex, : len(pairs)] = [j for j, _ in pairs]
        skin_weights[vertex, : len(pairs)] = [w for _, w in pairs]
    return skin_indices, skin_weights


def read_rignet(path: str | os.PathLike[str]) -> Rig:
    """Read a RigNet asset from its rig text file or its OBJ (the other half is found beside it).

    Returns a :class:`Rig` with J joints (parents first), identity rest rotations, rest translations
    ``position - parent position`` (J, 3) float32, bind matrices (J, 4, 4) equal to the rest world transforms
    (their translations are the file's positions as float32), the OBJ's vertices (V, 3) and triangles (F, 3),
    and skin (V, K) from the ``skin`` lines (more than 8 influences: the 8 largest are kept, with a warning).
    Up axis "Y", ``meters_per_unit`` 1.0: the format has no units.

    A rig file without ``skin`` lines and without an OBJ reads as a skeleton-only rig.
    Raises :class:`AssetError` (file:line) for malformed lines and missing files, :class:`RigError` for
    a broken hierarchy (cycles, two parents, joints cut off from the root, NaN positions).
    """
    txt, obj, looked_for = rignet_pair(path)
    text = _parse_rig_text(txt)
    if obj is None and text.skin:
        raise AssetError(
            f"{txt}: has skin lines but its mesh is missing; looked for {' and '.join(str(m) for m in looked_for)}"
        )
    root = _find_root(text, txt)
    _check_cycles(text)
    names = _joint_order(text, root, txt)
    index = {n: i for i, n in enumerate(names)}
    parents = np.array([index[text.parent_of[n][0]] if n in text.parent_of else -1 for n in names], np.int32)
    file_rank = {n: i for i, n in enumerate(text.names)}
    positions = np.asarray([text.positions[file_rank[n]] for n in names], np.float64).astype(np.float32)
    J = len(names)
    bind = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
    bind[:, :3, 3] = positions
    rotations = np.zeros((J, 4), np.float32)
    rotations[:, 0] = 1
    mesh: dict[str, np.ndarray | None] = {}
    if obj is not None:
        vertices, faces = read_obj(obj)
        skin_indices, skin_weights = _skin_arrays(text, index, len(vertices))
        mesh = dict(vertices=vertices, faces=faces, skin_indices=skin_indices, skin_weights=skin_weights)
    base = txt.stem[: -len(RIG_SUFFIX)] if txt.stem.endswith(RIG_SUFFIX) else txt.stem
    return Rig(
        joint_names=names,
        parents=parents,
        rest_translations=_local_translations(positions, parents),
        rest_rotations=rotations,
        bind_matrices=bind,
        up_axis="Y",
        meters_per_unit=1.0,
        name=base or txt.stem,
        source=str(txt),
        **mesh,
    )


# ----- writing -------------------------------------------------------------------------------------
def _file_names(rig: Rig) -> list[str]:
    """Joint names without whitespace (the format splits on it), still unique."""
    unique = UniqueNames()
    return [unique("_".join(name.split()) or "joint") for name in rig.joint_names]


def default_obj_path(txt_path: Path) -> Path:
    """``NAME_rig.txt`` -> ``NAME.obj`` (the pairing :func:`read_rignet` looks for); else ``STEM.obj``."""
    stem = txt_path.stem
    base = stem[: -len(RIG_SUFFIX)] if stem.endswith(RIG_SUFFIX) and len(stem) > len(RIG_SUFFIX) else stem
    return txt_path.with_name(base + ".obj")


def write_rignet(
    rig: Rig, txt_path: str | os.PathLike[str], obj_path: str | os.PathLike[str] | None = None
) -> tuple[Path, Path | None]:
    """Write ``rig`` as a RigNet rig text file and, when it has a mesh, its OBJ; each file atomically.

    Joint positions are the bind-pose world positions (the pose the mesh is in; for rigs read from RigNet,
    glTF with matching bind and most others that is the rest pose). RigNet has no rotations, so rest and
    bind rotations are dropped: positions stay right, orientations are lost. Whitespace in joint names
    becomes "_". A skeleton-only rig writes only joints/root/hier lines and no OBJ.
    ``obj_path`` defaults to ``NAME.obj`` beside ``NAME_rig.txt``. Returns (txt path, obj path or None).
    """
    txt_path = Path(txt_path)
    names = _file_names(rig)
    positions = rig.bind_matrices[:, :3, 3]
    lines = [f"joints {n} {' '.join(format_float(c) for c in xyz)}" for n, xyz in zip(names, positions)]
    lines.append(f"root {names[0]}")
    lines.extend(f"hier {names[p]} {names[j]}" for j, p in enumerate(rig.parents) if p >= 0)
    written_obj = None
    if rig.has_mesh:
        for v, (idx, w) in enumerate(zip(rig.skin_indices, rig.skin_weights)):
            pairs = " ".join(f"{names[i]} {format_float(x)}" for i, x in zip(idx, w) if x > 0)
            lines.append(f"skin {v} {pairs}")
        written_obj = write_obj(Path(obj_path) if obj_path is not None else default_obj_path(txt_path),
                                rig.vertices, rig.faces)
    with atomic_path(txt_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return txt_path, written_obj
