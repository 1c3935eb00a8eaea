"""The readers' linear-time helpers against naive references (issue 14: joint-count work is near-linear).

The glTF skeleton walk, unique naming, RigNet's cycle check and UsdSkel's joint naming were quadratic in the
joint count; each linear version must give exactly what the naive one gave, on random trees of many shapes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vips.errors import RigError
from vips.io.gltf_format import GltfDocument
from vips.io.gltf_read import SYNTHETIC, _Reader
from vips.io.names import UniqueNames
from vips.io.rignet import _check_cycles, _RigText


# ----- glTF: which nodes become joints, in which order ---------------------------------------------------------
class _NaiveReader(_Reader):
    """The reader's skeleton walk as it was: ancestor lists per joint (O(joints x depth)); the depth-first
    order and rig parents built from its result are the reader's own."""

    def _joint_nodes(self, skin_joints: list[int]) -> tuple[set[int], list[int]]:
        members = set(skin_joints)
        for j in skin_joints:
            path = []
            for a in self.ancestors(j):
                if a in members:
                    members.update(path)
                    break
                path.append(a)
        roots = sorted(j for j in members if int(self.parent[j]) not in members)
        if len(roots) > 1:
            lca = self._common_ancestor(roots)
            if lca is not None:
                for r in roots:
                    for a in self.ancestors(r):
                        members.add(a)
                        if a == lca:
                            break
                roots = [lca]
        return members, roots

    def _skin_keys(self, dfs: list[int], skin_joints: list[int]) -> dict[int, float]:
        rank = {k: i for i, k in enumerate(skin_joints)}
        key = {k: float(rank.get(k, np.inf)) for k in dfs}
        for k in skin_joints:
            for a in self.ancestors(k):
                if a in key and a not in rank:
                    key[a] = min(key[a], rank[k])
        key[SYNTHETIC] = -np.inf
        return key

    def _common_ancestor(self, roots: list[int]) -> int | None:
        paths = [[r, *self.ancestors(r)] for r in roots]
        shared = set(paths[0]).intersection(*map(set, paths[1:]))
        return next((k for k in paths[0] if k in shared), None)


def random_forest(rng: np.random.Generator, n: int) -> dict:
    """glTF JSON of ``n`` nodes in a random forest (1 to 3 trees, chains and bushes), listed in random order."""
    shape = rng.choice(["chain", "bush", "mixed"])
    parents = [-1]
    for i in range(1, n):
        if rng.random() < 0.05 * int(rng.integers(0, 2)):
            parents.append(-1)  # another tree
        elif shape == "chain":
            parents.append(i - 1)
        elif shape == "bush":
            parents.append(int(rng.integers(0, i)))
        else:
            parents.append(i - 1 if rng.random() < 0.7 else int(rng.integers(0, i)))
    perm = rng.permutation(n)  # node index of tree position i
    nodes = [{"name": f"n{k}"} for k in range(n)]
    for i, p in enumerate(parents):
        if p >= 0:
            nodes[perm[p]].setdefault("children", []).append(int(perm[i]))
    return {"asset": {"version": "2.0"}, "nodes": nodes}


@pytest.mark.parametrize("seed", range(12))
def test_gltf_skeleton_walk_matches_the_naive_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n = int(rng.integers(1, 60))
        doc = GltfDocument(Path(f"forest{seed}.gltf"), random_forest(rng, n), None)
        fast, naive = _Reader(doc), _NaiveReader(doc)
        skin = [int(k) for k in rng.permutation(n)[: int(rng.integers(1, n + 1))]]
        order, parents = fast.skeleton(skin)
        naive_order, naive_parents = naive.skeleton(skin)
        assert order == naive_order, (seed, n, skin)
        np.testing.assert_array_equal(parents, naive_parents)
        assert [int(d) for d in fast.depth] == [len(fast.ancestors(k)) for k in range(n)]
        members = [k for k in order if k != SYNTHETIC]
        assert fast.with_ancestors(set(members)) == {a for k in members for a in [k, *fast.ancestors(k)]}


def test_gltf_node_cycles_are_still_found(tmp_path: Path) -> None:
    from vips.errors import AssetError

    doc = {"asset": {"version": "2.0"}, "nodes": [{"children": [1]}, {"children": [2]}, {"children": [1]}]}
    with pytest.raises(AssetError, match="more than one parent|cycle"):
        _Reader(GltfDocument(tmp_path / "c.gltf", doc, None))
    doc = {"asset": {"version": "2.0"}, "nodes": [{}, {"children": [2]}, {"children": [1]}]}
    with pytest.raises(AssetError, match=r"cycle through node 1"):
        _Reader(GltfDocument(tmp_path / "c.gltf", doc, None))


# ----- unique names ---------------------------------------------------------------------------------------
def naive_unique(bases: list[str], used: set[str], sep: str) -> list[str]:
    out, used = [], set(used)
    for base in bases:
        name, n = base, 1
        while name in used:
            name, n = f"{base}{sep}{n}", n + 1
        used.add(name)
        out.append(name)
    return out


@pytest.mark.parametrize("sep", ["_", ""])
def test_unique_names_match_counting_from_one(sep: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        pool = ["a", "a_1", "a1", "b", "b_2", "root", "a_1_1", "11", "1"]
        bases = [str(rng.choice(pool)) for _ in range(int(rng.integers(0, 30)))]
        used = {str(x) for x in rng.choice(pool, size=int(rng.integers(0, 4)))}
        unique = UniqueNames(used, sep)
        assert [unique(b) for b in bases] == naive_unique(bases, used, sep)


def test_unique_names_of_20000_alike_are_linear() -> None:
    unique = UniqueNames()
    start = time.perf_counter()
    names = [unique("joint") for _ in range(20_000)]
    assert time.perf_counter() - start < 2.0
    assert len(set(names)) == 20_000 and names[:3] == ["joint", "joint_1", "joint_2"]


# ----- RigNet cycles ---------------------------------------------------------------------------------------
def rig_text(parent_of: dict[str, str], names: list[str]) -> _RigText:
    text = _RigText(names=names)
    text.parent_of = {c: (p, f"rig.txt:{k}") for k, (c, p) in enumerate(parent_of.items())}
    return text


def test_rignet_cycle_check_is_linear_on_a_long_chain() -> None:
    n = 20_000
    names = [f"j{i}" for i in reversed(range(n))]  # leaves first: the slowest order for the old walk
    start = time.perf_counter()
    _check_cycles(rig_text({f"j{i}": f"j{i - 1}" for i in range(1, n)}, names))
    assert time.perf_counter() - start < 2.0


def test_rignet_cycle_check_still_names_the_cycle() -> None:
    with pytest.raises(RigError, match=r"cycle through joints (a|b|c) -> (a|b|c) -> (a|b|c) -> (a|b|c)"):
        _check_cycles(rig_text({"a": "c", "b": "a", "c": "b", "d": "a"}, ["d", "a", "b", "c"]))


# ----- UsdSkel joint names ---------------------------------------------------------------------------------
def naive_usd_names(joints: list[str], parents: np.ndarray) -> list[str]:
    """The reader's naming as it was, but for its number of passes (one per joint, now MAX_PREFIX_PASSES)."""
    from vips.io.usd_read import MAX_PREFIX_PASSES

    names = [j.rstrip("/").split("/")[-1] or f"joint{i}" for i, j in enumerate(joints)]
    for _ in range(min(len(joints), MAX_PREFIX_PASSES)):
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        clashing = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashing:
            break
        for i in clashing:
            p = parents[i]
            names[i] = f"{names[p]}_{names[i]}" if p >= 0 else f"{names[i]}_{i}"
    if len(set(names)) != len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return names


def test_usd_joint_names_match_the_naive_prefixing_and_stay_linear() -> None:
    from vips.io.usd_read import _joint_names

    class NoNames:  # a Skeleton without jointNames: names come from the joint paths
        def GetJointNamesAttr(self):  # noqa: ANN202, N802 - usd-core's spelling
            return self

        def Get(self):  # noqa: ANN202, N802
            return None

    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 25))
        parents = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, n)])
        leaves = [str(rng.choice(["hand", "thumb", "a", "b"])) for _ in range(n)]
        paths: list[str] = []
        for i in range(n):
            paths.append(leaves[i] if parents[i] < 0 else f"{paths[parents[i]]}/{leaves[i]}")
        names, naive = _joint_names(NoNames(), paths, parents), naive_usd_names(paths, parents)
        assert len(set(names)) == n
        if max(map(len, naive)) <= 64:  # longer ones are numbered instead: the linear version's one change
            assert names == naive
    depth = 3000  # a chain of joints all named "a": prefixing would build names of every length up to depth
    parents = np.arange(-1, depth - 1)
    paths = ["/".join(["a"] * (i + 1)) for i in range(depth)]
    start = time.perf_counter()
    names = _joint_names(NoNames(), paths, parents)
    assert time.perf_counter() - start < 5.0
    assert len(set(names)) == depth and max(map(len, names)) < 64
