"""Artist clips as a motion source: the animations of glTF, BVH and UsdSkel files, each on its own rig.

Every animated asset becomes one species of the dataset (source "clip", one individual): its rig as loaded
by :func:`vips.load`, and each of its clips a sequence whose poses keep their provenance (asset file, clip
name, frame; collection, licence and credit from :func:`vips.data.sources.asset_provenance`). BVH motions have
no mesh; a skeleton-only rig is a valid shard (the rig's conditioning falls back to its joints).

Splits are by **rig family**. Libraries export one file per animation of a character (``Knight_Walk.glb``,
``Knight_Run.glb``), and ship many characters on one rig template with a few joints more or less (a pack's
horse, deer and fox on one ``AnimalArmature``): a split by file, or by exact skeleton, would put one rig in
train and test. So planning reads every asset's skeleton, and assets whose skeletons are the same or clearly
one template make one family (:func:`rig_families`). Every asset of a family takes the family's split:

- an explicit one, ``--clips PATH=SPLIT`` (:class:`ClipsPath`): the assets under PATH and the rest of their
  families go to SPLIT; a family given two explicit splits is an error naming both;
- else the build's rule (``--clips-split``): ``train``, ``val`` or ``test``, or ``auto``, a seeded hash of the
  family's key (its smallest skeleton signature, the hash in its id), so a family's split is the same on every
  machine whatever its files' paths, names or order.

The decided split, the family and the provenance are in each shard's resume digest (a new rule or a new
asset that moves a family rebuilds that family's shards, and only them) and in its sidecar, hence the manifest.
Assets without animation are recorded as skipped; unreadable ones fail with the reader's error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vips.data.sources import LICENCE_FILE, Motion, SourcesFile, asset_provenance, load_sources
from vips.errors import VipsError

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig

CLIP_SUFFIXES = (".glb", ".gltf", ".bvh", ".usd", ".usda", ".usdc")
EXPLICIT_SPLITS = ("train", "val", "test")
CLIP_SPLITS = ("auto", *EXPLICIT_SPLITS)
KIND_BY_SUFFIX = {".glb": "gltf", ".gltf": "gltf", ".bvh": "bvh", ".usd": "usd", ".usda": "usd", ".usdc": "usd"}
# Bumped when what a clip shard holds changes, so finished clip shards are rebuilt.
# 2: splits by skeleton (1 split by file), sidecars record the skeleton signature.
# 3: splits by rig family, sidecars record the family and the provenance (collection, licence, credit).
# 4: clips set on the rest pose's ground (ground_clip); the sources file may re-rest an asset at its first frame.
CLIP_FORMAT = 4
#: The quantile of a clip's per-frame lowest joint heights taken as the floor it moves on (low, so jumps and
#: lifted feet do not count, and above the minimum, so one glitched frame does not either).
FLOOR_QUANTILE = 0.05
# Two skeletons are one template when at least this many named joints are shared and they are at least this
# share of all the joint names of both (see same_template).
FAMILY_OVERLAP = 0.6
FAMILY_MIN_SHARED = 4

_NAMESPACE = re.compile(r"^.*[:|]")  # 'mixamorig:Hips', 'Armature|Hips'
_RIG_PREFIX = re.compile(r"^(?:cc_base_|mixamorig\d*_|bip\d*[ _]|def[-_])")  # iClone, Mixamo, Biped, Rigify
_GENERIC = re.compile(r"(?:joint|jnt|bone|node|transform|null|empty|group|grp|object|obj|armature|skeleton|"
                      r"root|rootnode|scene|j|b)?[\s._\-]*\d*")


def skeleton_signature(rig: Rig) -> str:
    """The rig's skeleton as 16 hex digits: SHA-256 of its sorted (joint name, parent name) pairs (root: "").

    Rigs share a signature when they have the same joints (names as written) in the same hierarchy, whatever
    order their files list the joints in. Only strings are hashed, so the signature is the same on every
    machine. Rest-pose proportions (and units, mesh, clips) are left out on purpose: re-exports of one rig can
    differ in units and rest values, and held-out rigs must not be seen in training even as a proportion
    variant. Skeletons of one template that differ in a few joints are gathered by :func:`rig_families`.
    """
    return signature_of(rig.joint_names, rig.parents.tolist())


def signature_of(names: list[str], parents: list[int]) -> str:
    """:func:`skeleton_signature` of a skeleton given as joint names and parent indices (root: -1)."""
    pairs = sorted((name, names[p] if p >= 0 else "") for name, p in zip(names, parents))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


def joint_key(name: str) -> str:
    """A joint name as rig templates share it: lower case, without a namespace (``mixamorig:``, ``Armature|``)
    or a tool's prefix (``CC_Base_``, ``mixamorig_``, ``Bip01 ``, ``DEF-``)."""
    return _RIG_PREFIX.sub("", _NAMESPACE.sub("", name.strip().lower())).strip()


def is_generic_joint(key: str) -> bool:
    """Whether a :func:`joint_key` says nothing of the rig's template: an auto-rigger's numbered name
    (``joint_12``, ``bone.001``, ``j5``, ``12``) or a container's (``root``, ``armature``)."""
    return _GENERIC.fullmatch(key) is not None


def same_template(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two skeletons, given as joint names, are clearly one rig template.

    The names are compared as :func:`joint_key`. Generic names (:func:`is_generic_joint`) never count as
    shared, though they count among all names: two auto-rigs named ``joint_0`` ... ``joint_40`` share nothing.
    True when at least :data:`FAMILY_MIN_SHARED` names are shared and the shared ones are at least
    :data:`FAMILY_OVERLAP` of the union (a Jaccard index without the generic names on top), so one template
    with a few joints more or less (a stag without the fox's tail joints) is one.
    """
    keys_a, keys_b = {joint_key(n) for n in a}, {joint_key(n) for n in b}
    shared = sum(not is_generic_joint(k) for k in keys_a & keys_b)
    return shared >= FAMILY_MIN_SHARED and shared >= FAMILY_OVERLAP * len(keys_a | keys_b)


def rig_families(skeletons: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Skeleton signature -> the key of its rig family: the smallest signature in the family.

    ``skeletons``: signature -> joint names. Families are the connected groups of skeletons linked by
    :func:`same_template` (union-find; linking is transitive, so a chain of near-identical variants is one
    family). Only skeletons sharing a named joint are compared.
    """
    signatures = sorted(skeletons)
    names = [list(skeletons[s]) for s in signatures]
    parent = list(range(len(signatures)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    having: dict[str, list[int]] = {}
    for i, joints in enumerate(names):
        for key in {joint_key(n) for n in joints}:
            if not is_generic_joint(key):
                having.setdefault(key, []).append(i)
    for i, joints in enumerate(names):
        others = {j for key in {joint_key(n) for n in joints} for j in having.get(key, ()) if j > i}
        for j in sorted(others):
            if find(i) != find(j) and same_template(joints, names[j]):
                a, b = find(i), find(j)
                parent[max(a, b)] = min(a, b)  # the root is the family's smallest signature
    return {s: signatures[find(i)] for i, s in enumerate(signatures)}


def family_split(key: str, mode: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of a rig family without an explicit one: ``mode`` itself, or for 'auto' a seeded hash of the
    family's ``key`` (uniform in [0, 1): test below ``test_fraction``, val below ``test_fraction +
    val_fraction``, else train). A family of one skeleton keeps the split that skeleton had before families."""
    if mode not in CLIP_SPLITS:
        raise VipsError(f"unknown clips split '{mode}': use one of {', '.join(CLIP_SPLITS)}")
    if mode != "auto":
        return mode
    u = int.from_bytes(hashlib.sha256(f"{seed}/skeleton/{key}".encode()).digest()[:8], "little") / 2.0**64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


@dataclass(frozen=True)
class ClipsPath:
    """One ``--clips`` argument: an asset file or a folder, and the split its assets' families must take
    (None: their families follow the build's rule)."""

    path: Path
    split: str | None = None

    @classmethod
    def parse(cls, given: str | os.PathLike[str] | ClipsPath) -> ClipsPath:
        """``PATH`` or ``PATH=SPLIT`` (SPLIT one of train, val, test). A path that exists as written is taken
        whole, even with an ``=`` in its name."""
        if isinstance(given, ClipsPath):
            return given
        text = os.fspath(given)
        head, sep, tail = text.rpartition("=")
        if not sep or not head or Path(text).exists():
            return cls(Path(text))
        if tail in EXPLICIT_SPLITS:
            return cls(Path(head), tail)
        if Path(head).exists():
            raise VipsError(f"--clips {text}: unknown split '{tail}' (write PATH=train, PATH=val or PATH=test)")
        return cls(Path(text))

    def __str__(self) -> str:
        return f"{self.path}={self.split}" if self.split else str(self.path)


@dataclass(frozen=True)
class ClipAsset:
    """One asset found under the ``--clips`` paths.

    Attributes:
        path, kind, files: the file :func:`vips.load` reads, 'gltf', 'usd' or 'bvh' (another suffix for a file
            named on its own), and every input file (a .gltf's external buffers).
        root: the outermost ``--clips`` folder holding it (a file named on its own: its folder); provenance is
            looked up relative to it.
        split: the explicit split of the most specific ``--clips PATH=SPLIT`` holding it, or None.
        given: that ``--clips`` argument (for messages), or "".
    """

    path: str
    kind: str
    files: tuple[str, ...]
    root: str
    split: str | None = None
    given: str = ""


def find_clip_assets(paths: Iterable[str | os.PathLike[str] | ClipsPath],
                     exclude: str | os.PathLike[str] | None = None,
                     ) -> tuple[list[ClipAsset], list[dict[str, str]]]:
    """Every clip asset under ``paths`` (``PATH`` or ``PATH=SPLIT``, see :class:`ClipsPath`), each once and in
    path order, and the other files found there (``{"file", "reason"}``), so every file is accounted for.

    A file is taken as given (its format is checked when it is read); a folder is searched recursively for
    .glb/.gltf/.bvh/.usd/.usda/.usdc files (hidden ones and ``exclude`` left out). An asset under several
    paths takes the split of the most specific one with a split: ``--clips lib --clips lib/mocap=val`` puts
    lib/mocap in val. A path that does not exist, or one asset given two splits by equally specific paths,
    raises :class:`VipsError`.
    """
    from vips.io.discover import discover, gltf_buffers

    hits: dict[str, list[tuple[ClipsPath, Path, str, tuple[str, ...]]]] = {}
    ignored: dict[str, str] = {}
    for entry in map(ClipsPath.parse, paths):
        p = entry.path
        if p.is_dir():
            root = p.resolve()
            assets, others = discover(root, exclude=exclude)
            for a in assets:
                if a.kind in KIND_BY_SUFFIX.values():
                    hits.setdefault(a.path, []).append((entry, root, a.kind, a.files))
                else:
                    ignored.update(dict.fromkeys(a.files, f"a {a.kind} rig (rig file and mesh) holds no animation"))
            for rel in others:
                ignored[str(root / rel)] = _not_an_asset(root / rel)
        elif p.is_file():
            path = p.resolve()
            suffix = path.suffix.lower()
            kind = KIND_BY_SUFFIX.get(suffix, suffix.lstrip(".") or "unknown")  # the reader decides anyway
            extra = tuple(map(str, gltf_buffers(path))) if suffix == ".gltf" else ()
            hits.setdefault(str(path), []).append((entry, path.parent, kind, (str(path), *extra)))
        else:
            raise VipsError(f"{p}: no such file or folder (--clips takes animated asset files or folders)")
    found = [_merge_hits(path, h) for path, h in hits.items()]
    others = [{"file": f, "reason": r} for f, r in sorted(ignored.items()) if f not in hits]
    return sorted(found, key=lambda a: a.path), others


def _not_an_asset(path: Path) -> str:
    if LICENCE_FILE.fullmatch(path.name):
        return "a licence file (recorded as the licence_file of the assets it covers)"
    return f"not an animation file (--clips reads {', '.join(CLIP_SUFFIXES)})"


def _merge_hits(path: str, hits: list[tuple[ClipsPath, Path, str, tuple[str, ...]]]) -> ClipAsset:
    """One asset found through one or more ``--clips`` paths: the outermost root, the nearest explicit split."""
    _, _, kind, files = hits[0]
    root = min((r for _, r, _, _ in hits), key=lambda r: len(r.parts))
    with_split = [e for e, _, _, _ in hits if e.split]
    if not with_split:
        return ClipAsset(path, kind, files, str(root))
    depth = max(len(e.path.resolve().parts) for e in with_split)
    nearest = {e.split: e for e in with_split if len(e.path.resolve().parts) == depth}
    if len(nearest) > 1:
        a, b = sorted(nearest.values(), key=str)[:2]
        raise VipsError(f"{path}: --clips {a} and --clips {b} give it two splits; keep one")
    (entry,) = nearest.values()
    return ClipAsset(path, kind, files, str(root), entry.split, str(entry))


def _stem(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem).strip("_") or "asset"


def clip_species(asset: str, content_hash: str) -> str:
    """Readable and unique: the file's stem plus a short content hash (two walk.bvh stay apart)."""
    return f"clip_{_stem(asset)}_{content_hash[:8]}"


@dataclass(frozen=True)
class ClipJob:
    """One animated asset of a build, its split decided by its rig family when the build was planned.

    Attributes:
        asset: absolute path of the file :func:`vips.load` reads.
        kind: 'gltf', 'usd' or 'bvh' (another suffix, for a file named on its own).
        content_hash: hash of the asset's bytes (a .gltf's external buffers included) and file name.
        skeleton: its :func:`skeleton_signature`, as read when planning.
        family: its rig family's id (see :func:`plan_clip_jobs`).
        split: 'train', 'val' or 'test': its family's.
        provenance: collection, licence, credit... (:func:`vips.data.sources.asset_provenance`).
        dedupe_eps: near-duplicate radius in rig heights.
    """

    asset: str
    kind: str
    content_hash: str
    skeleton: str
    family: str
    split: str
    provenance: dict[str, Any] = field(hash=False)
    dedupe_eps: float = 0.01

    @property
    def species(self) -> str:
        return clip_species(self.asset, self.content_hash)

    @property
    def shard_name(self) -> str:
        return f"{self.species}__000"

    def digest(self) -> str:
        # Everything the sidecar records that planning decides: a family that moves to another split, merges
        # with another or changes its credit is rebuilt; the rest of the dataset is not.
        key = {"format": CLIP_FORMAT, "content": self.content_hash, "skeleton": self.skeleton, "family": self.family,
               "split": self.split, "provenance": self.provenance, "eps": self.dedupe_eps}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def motion(self) -> Motion:
        """The asset's rig and every clip with frames; ``skipped`` says why when there is none."""
        rig = _load_quietly(self.asset)
        skeleton = skeleton_signature(rig)
        if skeleton != self.skeleton:
            raise VipsError(f"{self.asset}: the file changed while the build ran (its skeleton is not the one "
                            "planned); run the build again")
        meta = {
            "source": "clip",
            "species": self.species,
            "plan": "clip",
            "individual": 0,
            "split": self.split,
            "family": self.family,
            "skeleton": skeleton,
            "asset": self.asset,
            "asset_format": self.kind,
            "asset_hash": self.content_hash,
            **self.provenance,
            "has_mesh": rig.has_mesh,
            "load_warnings": list(rig.warnings),
            "joints": rig.num_joints,
        }
        clips = [(name, poses) for name, poses in rig.clips.items() if len(poses) > 0]
        if not rig.clips:
            return Motion(None, [], meta, skipped="the asset has no animation clips")
        if not clips:
            return Motion(None, [], meta, skipped=f"its clips ({', '.join(rig.clips)}) have no frames")
        if self.provenance.get("rest") == "first-frame":
            from vips.kinematics import rerested

            rig = rerested(rig, clips[0][1][0])
            clips = [(name, rig.clips[name]) for name, _ in clips]
        grounded = [ground_clip(rig, poses) for _, poses in clips]
        meta["clips"] = [{"clip": name, "frames": len(p), "fps": float(p.fps), "ground_shift": round(shift, 6)}
                         for (name, p), (_, shift) in zip(clips, grounded)]
        return Motion(rig, [p for p, _ in grounded], meta)


def ground_clip(rig: Rig, poses: Poses) -> tuple[Poses, float]:
    """``poses`` moved along the up axis so the clip stands on the rest pose's ground, and the shift (asset units).

    Files put a clip's floor where their capture or export put it (BVH roots move in absolute coordinates while
    the zero pose has the hips at the origin), but the pose model reads a body's height above the rest pose's
    lowest point. The clip's floor is the :data:`FLOOR_QUANTILE` quantile of each frame's lowest joint (joints
    above the body root left out); it is moved to the rest pose's lowest joint.
    """
    from vips.body import above_body, body_root
    from vips.kinematics import joint_positions
    from vips.poses import Poses

    axis = 1 if rig.up_axis == "Y" else 2
    body = ~above_body(rig.parents, body_root(rig))
    rest_floor = float(rig.rest_joint_positions()[body, axis].min())
    floor = float(np.quantile(joint_positions(rig, poses)[:, body, axis].min(axis=1), FLOOR_QUANTILE))
    shift = rest_floor - floor
    root = poses.root_translation.copy()
    root[:, axis] += shift
    return Poses(poses.rotations, root, poses.fps, poses.name), shift


def _load_quietly(path: str) -> Rig:
    from vips.io import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repairs are kept in rig.warnings and recorded in the sidecar
        return load(path)


def read_skeleton(path: str) -> tuple[list[str], list[int]]:
    """An asset's joint names and parent indices (runs in a worker: a reader that crashes takes only it)."""
    rig = _load_quietly(path)
    return list(rig.joint_names), rig.parents.tolist()


Runner = Callable[[Callable[..., Any], list], Iterator[tuple[Any, Any]]]


@dataclass
class ClipPlan:
    """The clip part of a build.

    Attributes:
        jobs: one per readable asset, in path order.
        skipped: assets not loaded, and why (identical copies of another asset).
        failures: unreadable assets, ``{"shard", "asset", "reason"}`` with the reader's error.
        ignored: files under the paths that are no animated asset, ``{"file", "reason"}``.
        families: family id -> ``{"key", "split", "split_by", "skeletons", "assets"}`` (members' paths).
    """

    jobs: list[ClipJob]
    skipped: list[dict[str, str]]
    failures: list[dict[str, str]]
    ignored: list[dict[str, str]]
    families: dict[str, dict[str, Any]]


def plan_clip_jobs(paths: Iterable[str | os.PathLike[str] | ClipsPath], mode: str, seed: int,
                   val_fraction: float, test_fraction: float, dedupe_eps: float,
                   exclude: str | os.PathLike[str] | None = None,
                   sources: str | os.PathLike[str] | SourcesFile | None = None, run: Runner | None = None,
                   ) -> ClipPlan:
    """Find the clip assets, read their skeletons, gather them into rig families and split each family.

    Args:
        paths: ``PATH`` or ``PATH=SPLIT`` (:class:`ClipsPath`).
        mode: the split of families without an explicit one: 'auto' (:func:`family_split` with ``seed`` and the
            fractions), 'train', 'val' or 'test'.
        sources: a sources file (:class:`vips.data.sources.SourcesFile`) naming collections and licences.
        run: ``run(fn, items)`` yielding ``(item, result or exception)``; default a local process pool. The
            skeletons are read with it, so a reader that crashes on one file costs only that file.

    A family's id is the sanitized stem of its first asset (in path order) and its key's first 8 digits,
    e.g. ``Alpaca-0062f16e``. Raises :class:`VipsError` when one family is given two explicit splits.
    """
    if mode not in CLIP_SPLITS:
        raise VipsError(f"unknown clips split '{mode}': use one of {', '.join(CLIP_SPLITS)}")
    table = load_sources(sources) if isinstance(sources, (str, os.PathLike)) else sources
    assets, ignored = find_clip_assets(paths, exclude)
    unique, copies, skipped = _unique_assets(assets)
    joints, failures = _read_skeletons(unique, run)
    skeleton = {path: signature_of(*j) for path, j in joints.items()}
    key_of = rig_families({skeleton[p]: joints[p][0] for p in sorted(joints)})

    members: dict[str, list[str]] = {}
    for path in sorted(skeleton):
        members.setdefault(key_of[skeleton[path]], []).append(path)
    family_id = {key: f"{_stem(paths_[0])}-{key[:8]}" for key, paths_ in members.items()}
    explicit = _explicit_splits(  # an identical copy's explicit split counts for the asset it copies
        [(a, a.path) for a, _ in unique.values()] + [(c, unique[n][0].path) for c, n in copies],
        lambda path: key_of.get(skeleton.get(path)), family_id)
    families: dict[str, dict[str, Any]] = {}
    for key, paths_ in members.items():
        split, by = explicit.get(key) or (family_split(key, mode, seed, val_fraction, test_fraction),
                                          f"--clips-split {mode}")
        families[family_id[key]] = {"key": key, "split": split, "split_by": by,
                                    "skeletons": sorted({skeleton[p] for p in paths_}), "assets": paths_}
    jobs = []
    for a, content in unique.values():
        if a.path in skeleton:
            fid = family_id[key_of[skeleton[a.path]]]
            jobs.append(ClipJob(a.path, a.kind, content, skeleton[a.path], fid, families[fid]["split"],
                                asset_provenance(Path(a.path), Path(a.root), table), dedupe_eps))
    return ClipPlan(sorted(jobs, key=lambda j: j.asset), skipped, failures, ignored, families)


def _unique_assets(assets: list[ClipAsset]) -> tuple[dict[str, tuple[ClipAsset, str]], list[tuple[ClipAsset, str]],
                                                     list[dict[str, str]]]:
    """Shard name -> (asset, content hash) of the assets to read; the identical copies (same file name and
    bytes) as (copy, shard name of the asset it copies); and the copies' skip records."""
    from vips.io.discover import Asset

    unique: dict[str, tuple[ClipAsset, str]] = {}
    copies: list[tuple[ClipAsset, str]] = []
    skipped: list[dict[str, str]] = []
    for a in assets:
        content = Asset(Path(a.path).name, a.kind, a.files).content_hash()
        name = f"{clip_species(a.path, content)}__000"
        if name in unique:
            skipped.append({"asset": a.path, "reason": f"same file name and content as {unique[name][0].path}"})
            copies.append((a, name))
        else:
            unique[name] = (a, content)
    return unique, copies, skipped


def _read_skeletons(unique: dict[str, tuple[ClipAsset, str]], run: Runner | None,
                    ) -> tuple[dict[str, tuple[list[str], list[int]]], list[dict[str, str]]]:
    """Path -> (joint names, parents) of every asset that reads, and a failure record for each one that does
    not (shard name, asset, the reader's error)."""
    from vips.parallel import describe_failure, run_local

    run = run or (lambda fn, items: run_local(fn, items))
    read = dict(run(read_skeleton, [a.path for a, _ in unique.values()]))
    joints, failures = {}, []
    for name, (a, _) in unique.items():
        if isinstance(read[a.path], Exception):
            failures.append({"shard": name, "asset": a.path, "reason": describe_failure(read[a.path])})
        else:
            joints[a.path] = read[a.path]
    return joints, failures


def _explicit_splits(assets: list[tuple[ClipAsset, str]], family_of: Callable[[str], str | None],
                     family_id: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Family key -> (explicit split, the ``--clips`` argument that gave it), from ``(asset, path whose
    skeleton it has)`` pairs; raises :class:`VipsError` naming two assets of one family given two splits."""
    chosen: dict[str, tuple[str, ClipAsset]] = {}
    for asset, path in sorted(assets, key=lambda x: x[0].path):
        key = family_of(path)
        if asset.split is None or key is None:
            continue
        if key in chosen and chosen[key][0] != asset.split:
            first = chosen[key][1]
            raise VipsError(
                f"rig family {family_id[key]} is given two splits: {first.path} is {first.split} (--clips "
                f"{first.given}) and {asset.path} is {asset.split} (--clips {asset.given}); every asset of a "
                "family shares one split, so give the family one (see the manifest's families)")
        chosen.setdefault(key, (asset.split, asset))
    return {key: (split, f"--clips {a.given}") for key, (split, a) in chosen.items()}


def clip_summary(jobs: list[ClipJob], sidecars: Mapping[str, dict[str, Any]],
                 families: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The manifest's clip tables: ``{"families": {id: row}, "collections": {name: row}}``.

    A row counts the assets (read at planning), shards (assets with animation), clips and poses, and names
    the licences; a family row has its split and what decided it, a collection row its credit and source and
    its poses per split. ``sidecars``: shard name -> sidecar of the jobs that finished (shards and skips).
    """
    fam_rows = {fid: {"split": f["split"], "split_by": f["split_by"], "skeletons": len(f["skeletons"]),
                      "collections": set(), "licences": set(), "assets": 0, "shards": 0, "clips": 0, "poses": 0,
                      "members": [Path(p).name for p in f["assets"]]}
                for fid, f in families.items()}
    col_rows: dict[str, dict[str, Any]] = {}
    for job in jobs:
        p = job.provenance
        col = col_rows.setdefault(p["collection"], {
            "licences": set(), "credit": p["credit"], "source_url": p["source_url"], "families": set(),
            "assets": 0, "shards": 0, "clips": 0, "poses": 0, "poses_per_split": dict.fromkeys(EXPLICIT_SPLITS, 0)})
        fam = fam_rows[job.family]
        meta = sidecars.get(job.shard_name, {})
        done = "poses" in meta
        for row in (fam, col):
            row["licences"].add(p["licence"])
            row["assets"] += 1
            row["shards"] += done
            row["clips"] += len(meta.get("clips", ())) if done else 0
            row["poses"] += meta.get("poses", 0)
        fam["collections"].add(p["collection"])
        col["families"].add(job.family)
        col["poses_per_split"][job.split] += meta.get("poses", 0)
    for row in (*fam_rows.values(), *col_rows.values()):
        for k in ("collections", "licences", "families"):
            if k in row:
                row[k] = sorted(row[k])
    return {"families": dict(sorted(fam_rows.items())), "collections": dict(sorted(col_rows.items()))}
