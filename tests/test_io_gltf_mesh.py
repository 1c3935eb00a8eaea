"""glTF node trees and plain meshes (vips.io.gltf_nodes, vips.io.gltf_mesh) and the one-pass glb decorate hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import cesium_man

from vips.errors import AssetError
from vips.io.gltf_format import GltfDocument, build_glb, parse_file
from vips.io.gltf_mesh import read_gltf_positions
from vips.io.gltf_nodes import NodeTree
from vips.io.gltf_write import glb_bytes


def _doc(nodes: list[dict]) -> GltfDocument:
    return GltfDocument(Path("<test>"), {"asset": {"version": "2.0"}, "nodes": nodes}, None)


def test_node_tree_world_matrices_compose_parent_first():
    tree = NodeTree(_doc([{"children": [1], "translation": [1.0, 0, 0]},
                          {"translation": [0, 2.0, 0], "scale": [3.0, 3.0, 3.0]}]))
    assert list(tree.parent) == [-1, 0] and tree.topo == [0, 1]
    world = tree.world_matrices([tree.node_matrix(i) for i in range(2)])
    np.testing.assert_allclose(world[1][:3, 3], [1.0, 2.0, 0.0])
    np.testing.assert_allclose(world[1][:3, :3], 3 * np.eye(3))


def test_node_tree_refuses_a_cycle():
    with pytest.raises(AssetError, match="cycle"):
        NodeTree(_doc([{"children": [1]}, {"children": [0]}]))


def test_gltf_positions_apply_node_transforms(tmp_path: Path):
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    gltf = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
            "nodes": [{"translation": [0, 0, 5.0], "children": [1]}, {"mesh": 0, "scale": [2.0, 2.0, 2.0]}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "buffers": [{"byteLength": verts.nbytes}],
            "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": verts.nbytes}],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                           "min": [0, 0, 0], "max": [1, 1, 0]}]}
    path = tmp_path / "tri.glb"
    path.write_bytes(build_glb(gltf, verts.tobytes()))
    v, f = read_gltf_positions(path)
    np.testing.assert_allclose(v, verts * 2 + [0, 0, 5.0])
    np.testing.assert_array_equal(f, [[0, 1, 2]])


def test_glb_bytes_decorate_edits_the_json_before_packing(tmp_path: Path):
    rig, _ = cesium_man()
    seen: list[int] = []

    def decorate(gltf: dict) -> None:
        seen.append(len(gltf["skins"][0]["joints"]))
        gltf["skins"][0]["extras"] = {"note": "added"}

    path = tmp_path / "rig.glb"
    path.write_bytes(glb_bytes(rig, [], decorate=decorate))
    assert seen == [rig.num_joints]
    assert parse_file(path).json["skins"][0]["extras"] == {"note": "added"}
