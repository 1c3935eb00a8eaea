"""Artist clips as a motion source: the animations of glTF, BVH and UsdSkel files, each on its own rig.

Every animated asset becomes one species of the dataset (source "clip", one individual): its rig as loaded
by :func:`vips.load`, and each of its clips a sequence whose poses keep their provenance (asset file, clip
name, frame). BVH motions have no mesh; a skeleton-only rig is a valid shard (the shard stores what the rig
has, and the rig's conditioning falls back to its joints), so no proxy mesh is made.

Splits are by skeleton, because for clips a species is a skeleton: libraries export one file per animation
of a character (``Knight_Walk.glb``, ``Knight_Run.glb``), and a split by file would put the same character in
train and test. ``auto`` gives every asset of one skeleton (see :func:`skeleton_signature`) the same split, a
hash of the signature with the dataset seed, so it is the same on every machine, whatever the files' paths,
names or order; ``train``, ``val`` or ``test`` put every asset there. The skeleton is known only once the
asset is read, so each job decides its split after loading: the shard name and the resume digest depend on
the asset's content and the split *rule*, never on the decided split, and the shard's sidecar (hence the
manifest) records both the split and the skeleton signature, so the split can be audited.
Assets without animation are recorded as skipped; unreadable ones fail with the reader's error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vips.data.sources import Motion
from vips.errors import VipsError

if TYPE_CHECKING:
    from vips.rig import Rig

CLIP_SUFFIXES = (".glb", ".gltf", ".bvh", ".usd", ".usda", ".usdc")
CLIP_SPLITS = ("auto", "train", "val", "test")
KIND_BY_SUFFIX = {".glb": "gltf", ".gltf": "gltf", ".bvh": "bvh", ".usd": "usd", ".usda": "usd", ".usdc": "usd"}
# Bumped when what a clip shard holds changes, so finished clip shards are rebuilt.
# 2: splits by skeleton (1 split by file), sidecars record the skeleton signature.
CLIP_FORMAT = 2


def skeleton_signature(rig: Rig) -> str:
    """The rig's skeleton as 16 hex digits: SHA-256 of its sorted (joint name, parent name) pairs (root: "").

    Rigs share a signature when they have the same joints (names as written) in the same hierarchy, whatever
    order their files list the joints in. Only strings are hashed, so the signature is the same on every
    machine. Rest-pose proportions (and units, mesh, clips) are left out on purpose:

    - Re-exports of one rig (one file per animation, the leak this guards against) can differ in units and
      in rest values (float rounding, a first frame baked into the rest pose). Hashing continuous values needs
      rounding, and a value next to a rounding edge would put one character in train and test, silently.
    - The dataset's promise is that test species are never seen in training, "not even as a proportion
      variant": the procedural archetypes (:func:`vips.data.dataset.split_archetypes`) hold out the same way.

    The cost: characters that share one rig, names and all (Mixamo characters with the same ``mixamorig:``
    joints), are one species and share a split; a library made only of those gets one split (give it an
    explicit one). Renamed joints (a ``mixamorig1:`` prefix) make another skeleton.
    """
    names = rig.joint_names
    pairs = sorted((name, names[p] if p >= 0 else "") for name, p in zip(names, rig.parents.tolist()))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SplitRule:
    """How clip assets are split: ``mode`` 'auto' (by skeleton, with the seed and fractions) or a split name."""

    mode: str
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in CLIP_SPLITS:
            raise VipsError(f"unknown clips split '{self.mode}': use one of {', '.join(CLIP_SPLITS)}")

    def key(self) -> Any:
        """What decides the splits, for the resume digest: an explicit split ignores the seed and fractions."""
        return self.mode if self.mode != "auto" else [self.mode, self.seed, self.val_fraction, self.test_fraction]

    def split(self, skeleton: str) -> str:
        """The split of every asset whose skeleton signature is ``skeleton``."""
        return skeleton_split(skeleton, self.mode, self.seed, self.val_fraction, self.test_fraction)


@dataclass(frozen=True)
class ClipJob:
    """One animated asset of a build.

    Attributes:
        asset: absolute path of the file :func:`vips.load` reads.
        kind: 'gltf', 'usd' or 'bvh' (another suffix, for a file named on its own).
        content_hash: hash of the asset's bytes (a .gltf's external buffers included) and file name.
        rule: how its split is decided (by its skeleton for 'auto', known once it is loaded).
        dedupe_eps: near-duplicate radius in rig heights.
    """

    asset: str
    kind: str
    content_hash: str
    rule: SplitRule
    dedupe_eps: float

    @property
    def species(self) -> str:
        """Readable and unique: the file's stem plus a short content hash (two walk.bvh stay apart)."""
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(self.asset).stem).strip("_") or "asset"
        return f"clip_{stem}_{self.content_hash[:8]}"

    @property
    def shard_name(self) -> str:
        return f"{self.species}__000"

    @property
    def split(self) -> str:
        """The rule's mode: 'train', 'val', 'test', or 'auto' (decided in :meth:`motion`, kept in the sidecar)."""
        return self.rule.mode

    def digest(self) -> str:
        # The rule, not the decided split: the split follows from the content, so this key names the shard's
        # whole content without loading the asset, and a resumed build decides nothing again.
        key = {"format": CLIP_FORMAT, "content": self.content_hash, "split": self.rule.key(), "eps": self.dedupe_eps}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def motion(self) -> Motion:
        """The asset's rig and every clip with frames; ``skipped`` says why when there is none. The meta's
        "split" is decided here, from the rig's "skeleton" signature (both recorded)."""
        from vips.io import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # repairs are kept in rig.warnings and recorded below
            rig = load(self.asset)
        skeleton = skeleton_signature(rig)
        meta = {
            "source": "clip",
            "species": self.species,
            "plan": "clip",
            "individual": 0,
            "split": self.rule.split(skeleton),
            "skeleton": skeleton,
            "asset": self.asset,
            "asset_format": self.kind,
            "asset_hash": self.content_hash,
            "has_mesh": rig.has_mesh,
            "load_warnings": list(rig.warnings),
            "joints": rig.num_joints,
        }
        clips = [(name, poses) for name, poses in rig.clips.items() if len(poses) > 0]
        if not rig.clips:
            return Motion(None, [], meta, skipped="the asset has no animation clips")
        if not clips:
            return Motion(None, [], meta, skipped=f"its clips ({', '.join(rig.clips)}) have no frames")
        meta["clips"] = [{"clip": name, "frames": len(p), "fps": float(p.fps)} for name, p in clips]
        return Motion(rig, [p for _, p in clips], meta)


def find_clip_assets(paths: Iterable[str | os.PathLike[str]], exclude: str | os.PathLike[str] | None = None,
                     ) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(path, kind, input files)`` of every clip asset under ``paths``, in a stable order, each once.

    A file is taken as given (its format is checked when it is read); a folder is searched recursively for
    .glb/.gltf/.bvh/.usd/.usda/.usdc files (hidden ones and ``exclude`` left out). A path that does not
    exist raises :class:`VipsError`.
    """
    from vips.batch.discover import gltf_buffers, discover

    found: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for given in paths:
        p = Path(given)
        if p.is_dir():
            assets, _ = discover(p, exclude=exclude)
            for a in assets:
                if a.kind in ("gltf", "usd", "bvh"):
                    found.setdefault(a.path, (a.path, a.kind, a.files))
        elif p.is_file():
            path = p.resolve()
            suffix = path.suffix.lower()
            kind = KIND_BY_SUFFIX.get(suffix, suffix.lstrip(".") or "unknown")  # the reader decides anyway
            extra = tuple(map(str, gltf_buffers(path))) if suffix == ".gltf" else ()
            found.setdefault(str(path), (str(path), kind, (str(path), *extra)))
        else:
            raise VipsError(f"{given}: no such file or folder (--clips takes animated asset files or folders)")
    return sorted(found.values(), key=lambda a: a[0])


def skeleton_split(skeleton: str, mode: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of every asset of one skeleton: ``mode`` itself, or for 'auto' a seeded hash of its
    :func:`skeleton_signature` (uniform in [0, 1): test below ``test_fraction``, val below
    ``test_fraction + val_fraction``, else train)."""
    if mode not in CLIP_SPLITS:
        raise VipsError(f"unknown clips split '{mode}': use one of {', '.join(CLIP_SPLITS)}")
    if mode != "auto":
        return mode
    u = int.from_bytes(hashlib.sha256(f"{seed}/skeleton/{skeleton}".encode()).digest()[:8], "little") / 2.0**64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def plan_clip_jobs(paths: Iterable[str | os.PathLike[str]], mode: str, seed: int, val_fraction: float,
                   test_fraction: float, dedupe_eps: float, exclude: str | os.PathLike[str] | None = None,
                   ) -> tuple[list[ClipJob], list[dict[str, str]]]:
    """The clip jobs of a build and the assets skipped before loading (identical copies of another asset).

    Planning reads every file's bytes (for its content hash) but loads none: with ``mode`` 'auto' each job
    decides its split from its skeleton when it runs (see :class:`ClipJob`).
    """
    from vips.batch.discover import Asset

    rule = SplitRule(mode, seed, val_fraction, test_fraction)
    jobs: dict[str, ClipJob] = {}
    skipped: list[dict[str, str]] = []
    for path, kind, files in find_clip_assets(paths, exclude):
        digest = Asset(Path(path).name, kind, files).content_hash()
        job = ClipJob(path, kind, digest, rule, dedupe_eps)
        if job.shard_name in jobs:
            skipped.append({"asset": path, "reason": f"same file name and content as {jobs[job.shard_name].asset}"})
            continue
        jobs[job.shard_name] = job
    return list(jobs.values()), skipped
