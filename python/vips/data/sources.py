"""Motion sources of the pose dataset: what one build job yields, whatever made the motion, and where it came from.

A job of a source (a procedural creature individual, an artist's animated asset...) is a picklable object
with the :class:`MotionJob` attributes. Its :meth:`MotionJob.motion` gives one rig and its sequences of poses
with provenance; :func:`vips.data.dataset.run_job` turns every source's motion into a shard the same way
(near-duplicates removed, sidecar written), so shards, manifest, resume and splits have one code path.

Real motion comes with terms: :func:`asset_provenance` names an asset's collection, licence and credit, from a
sources file (:class:`SourcesFile`, ``vips dataset build --clips-sources``) or from the licence file beside it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vips.errors import VipsError

if TYPE_CHECKING:
    from vips.poses import Poses
    from vips.rig import Rig


@dataclass(eq=False)
class Motion:
    """One job's rig and motion, or the reason it has none.

    Attributes:
        rig: the rig every sequence poses (None when skipped).
        sequences: the S pose sequences; sequence s holds poses (F_s, J, 4) and is clip index s in the shard.
        meta: provenance that heads the shard's sidecar (source, species, plan, individual, split, ...,
            "clips": one JSON entry per sequence). The build appends pose counts, settings digest and time.
        skipped: why the job has nothing to learn from (an asset without animation); None for real motion.
    """

    rig: Rig | None
    sequences: list[Poses] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


class MotionJob(Protocol):
    """One unit of a dataset build; one shard (or one skip record) in ``DIR/shards/``."""

    @property
    def shard_name(self) -> str:
        """Unique file stem of the job's shard."""
        ...

    @property
    def split(self) -> str:
        """'train', 'val' or 'test' (decided when the build is planned: a clip asset's by its rig family)."""
        ...

    @property
    def dedupe_eps(self) -> float:
        """Near-duplicate radius, in rig heights (see :func:`vips.data.dedupe.near_duplicate_mask`)."""
        ...

    def digest(self) -> str:
        """Identity of what the job makes: a finished shard whose sidecar holds another digest is rebuilt."""
        ...

    def motion(self) -> Motion:
        """Make (or load) the rig and its sequences. Raises on unreadable input; the build reports it."""
        ...


# --- Provenance: where an asset's motion came from, and under which licence ---------------------------------

SOURCES_FORMAT = "vips-clip-sources/1"
UNKNOWN_LICENCE = "unknown"
# Fields of a sources file entry copied into each shard's sidecar (None where the entry has none).
PROVENANCE_FIELDS = ("collection", "licence", "terms", "credit", "source_url", "source_commit", "rest")
#: What an entry's optional ``rest`` says the assets' rest pose is: the file's own (default), or the first frame
#: of their first clip (exporters that write BVH offsets in joint-local frames leave a meaningless zero pose,
#: while mocap clips start in a T-pose).
REST_CHOICES = ("file", "first-frame")
LICENCE_FILE = re.compile(r"(?:licen[cs]e|copying)(?:[._\- ].*)?", re.IGNORECASE)
# (SPDX id, what its text says), most specific first: a CC BY-SA text also says "Attribution".
KNOWN_LICENCES = (
    ("CC0-1.0", r"\bCC0\b|publicdomain/zero|Creative\s+Commons\s+Zero"),
    ("CC-BY-NC-SA-4.0", r"Attribution-NonCommercial-ShareAlike\s+4\.0|licenses/by-nc-sa/4\.0"),
    ("CC-BY-NC-4.0", r"Attribution-NonCommercial\s+4\.0|licenses/by-nc/4\.0"),
    ("CC-BY-SA-4.0", r"Attribution-ShareAlike\s+4\.0|licenses/by-sa/4\.0"),
    ("CC-BY-4.0", r"Attribution\s+4\.0|licenses/by/4\.0"),
    ("CC-BY-3.0", r"Attribution\s+3\.0|licenses/by/3\.0"),
    ("MIT", r"\bMIT\s+License\b|Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge"),
    ("Apache-2.0", r"Apache\s+License,?\s+Version\s+2\.0"),
    ("Unlicense", r"free\s+and\s+unencumbered\s+software\s+released\s+into\s+the\s+public\s+domain"),
)


@dataclass(frozen=True)
class SourcesFile:
    """A sources file: relative path prefixes of a clip library -> what the assets there are.

    The file is JSON: ``{"format": "vips-clip-sources/1", "sources": {PREFIX: ENTRY, ...}}``. A PREFIX is a
    path relative to the ``--clips`` folder, ``/``-separated (``"cmu_daz/"``, ``"kaykit/Adventurers_2.0/"``,
    one file, or ``""`` for all); an ENTRY names its ``collection`` and ``licence`` (required strings) and
    may give ``terms``, ``credit`` (the acknowledgement the licence asks for), ``source_url``,
    ``source_commit`` and ``rest`` (one of :data:`REST_CHOICES`); other keys (``description``) are for people
    and not copied.
    """

    path: str
    entries: dict[str, dict[str, Any]]

    def match(self, asset: Path, root: Path) -> tuple[str, dict[str, Any]] | None:
        """``(prefix, entry)`` of the longest prefix of ``asset``'s path relative to ``root`` (the ``--clips``
        folder it was found in); where none matches, the same relative to each folder above ``root``, nearest
        first, so that ``--clips motion/cmu_daz`` finds the entry ``cmu_daz/`` written for ``--clips motion``."""
        for base in (root, *root.parents):
            try:
                rel = asset.relative_to(base).as_posix()
            except ValueError:
                continue
            hits = [p for p in self.entries if p == "" or rel == p or rel.startswith(p + "/")]
            if hits:
                best = max(hits, key=len)
                return best, self.entries[best]
        return None


def load_sources(path: str | os.PathLike[str]) -> SourcesFile:
    """Read and check a sources file (see :class:`SourcesFile`); errors name the file and the entry."""
    where = Path(path)
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VipsError(f"{where}: not a readable sources file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SOURCES_FORMAT or not isinstance(doc.get("sources"), dict):
        raise VipsError(f"{where}: a sources file is a JSON object with \"format\": \"{SOURCES_FORMAT}\" and "
                        "\"sources\": {\"relative/folder/\": {\"collection\": ..., \"licence\": ...}}")
    entries: dict[str, dict[str, Any]] = {}
    for prefix, entry in doc["sources"].items():
        for field_name in ("collection", "licence"):
            if not isinstance(entry, dict) or not isinstance(entry.get(field_name), str) or not entry[field_name]:
                raise VipsError(f"{where}: sources entry '{prefix}' needs a \"{field_name}\" string")
        if entry.get("rest", "file") not in REST_CHOICES:
            raise VipsError(f"{where}: sources entry '{prefix}' has \"rest\": {entry.get('rest')!r}; use one of "
                            f"{', '.join(REST_CHOICES)}")
        key = prefix.strip().strip("/")
        key = "" if key == "." else key.removeprefix("./")
        entries[key] = {k: entry.get(k) for k in PROVENANCE_FIELDS}
    return SourcesFile(str(where.resolve()), entries)


def find_licence_file(asset: Path, root: Path) -> Path | None:
    """The licence file nearest ``asset``: in its folder, else in each folder above it up to ``root`` (the
    ``--clips`` folder) included; names such as ``License.txt``, ``LICENSE``, ``LICENSE.md``, ``COPYING``."""
    folder = asset.parent
    while True:
        try:
            names = sorted(p.name for p in folder.iterdir() if p.is_file() and LICENCE_FILE.fullmatch(p.name))
        except OSError:
            names = []
        if names:
            return folder / names[0]
        if folder == root or root not in folder.parents:
            return None
        folder = folder.parent


def recognise_licence(path: Path) -> str:
    """The SPDX id of the licence a licence file states (CC0-1.0, CC-BY-4.0, MIT...), or ``"unknown"``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return UNKNOWN_LICENCE
    for spdx, pattern in KNOWN_LICENCES:
        if re.search(pattern, text, re.IGNORECASE):
            return spdx
    return UNKNOWN_LICENCE


def asset_provenance(asset: Path, root: Path, sources: SourcesFile | None = None) -> dict[str, Any]:
    """Where ``asset`` (found under the ``--clips`` folder ``root``) came from, for its shard's sidecar.

    The entry of ``sources`` for its path wins (:meth:`SourcesFile.match`). Otherwise the licence is read
    from the nearest licence file up to ``root`` (:func:`find_licence_file`; ``"unknown"`` when there is none
    or its text is not recognised) and the collection is the folder of that file, else the asset's first
    folder under ``root`` (``root``'s own name for an asset directly in it). Returns the
    :data:`PROVENANCE_FIELDS`, ``sources_key`` (the matching prefix, or None) and ``licence_file`` (its path
    relative to ``root``, or None).
    """
    licence_file = find_licence_file(asset, root)
    if licence_file is not None:
        home = licence_file.parent.relative_to(root)
    else:
        rel = asset.relative_to(root)
        home = Path(rel.parts[0]) if len(rel.parts) > 1 else Path()
    out: dict[str, Any] = dict.fromkeys(PROVENANCE_FIELDS)
    out.update(collection=home.as_posix() if home.parts else root.name,
               licence=recognise_licence(licence_file) if licence_file else UNKNOWN_LICENCE)
    hit = sources.match(asset, root) if sources else None
    if hit:
        out.update(hit[1])
    out["sources_key"] = hit[0] if hit else None
    out["licence_file"] = licence_file.relative_to(root).as_posix() if licence_file else None
    return out
