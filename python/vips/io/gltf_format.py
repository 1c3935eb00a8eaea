"""glTF 2.0 container and accessor decoding shared by the reader and the writer (json + struct + numpy).

:class:`GltfDocument` holds the parsed JSON and the binary buffers of one .glb or .gltf file and decodes
accessors into numpy arrays, checking every index, offset and length against the specification, so a
corrupt file raises :class:`vips.errors.AssetError` naming the file and the broken element.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from vips.errors import AssetError
from vips.io.guard import MAX_BINARY_BYTES, decode_data_uri, read_asset, read_reference, resolve_reference

GLB_MAGIC = b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # "JSON" read as a little-endian uint32
CHUNK_BIN = 0x004E4942  # "BIN\0"

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963

# componentType -> little-endian numpy dtype
COMPONENT_DTYPES: dict[int, np.dtype] = {
    5120: np.dtype("<i1"),
    5121: np.dtype("<u1"),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
DTYPE_COMPONENTS = {np.dtype(v).str: k for k, v in COMPONENT_DTYPES.items()}

# type -> (columns, rows): a matrix is stored column by column, each column padded to 4 bytes.
TYPE_SHAPES: dict[str, tuple[int, int]] = {
    "SCALAR": (1, 1),
    "VEC2": (1, 2),
    "VEC3": (1, 3),
    "VEC4": (1, 4),
    "MAT2": (2, 2),
    "MAT3": (3, 3),
    "MAT4": (4, 4),
}

# Largest accessor element count we accept; larger counts are corrupt headers, not real assets.
MAX_COUNT = 1 << 28
# Components that accessors without a bufferView (zero-filled, or sparse over zeros) may hold in one file, all
# together: no bytes in the file bound them. 2^25 components are 256 MiB once decoded as float64, far more than
# the accessors a rig needs (positions, skin, key times) ever hold as zeros.
MAX_UNBACKED_COMPONENTS = 1 << 25


def pad4(n: int) -> int:
    """``n`` rounded up to a multiple of 4."""
    return (n + 3) & ~3


class GltfDocument:
    """A parsed glTF file: ``json`` (the top-level object) and lazily decoded buffers.

    Args:
        path: the file (errors name it; external buffers are read from its folder only, see
            :func:`vips.io.guard.read_reference`).
        gltf: the top-level JSON object.
        bin_chunk: the GLB binary chunk (buffer 0 when it has no uri), or None.
    """

    def __init__(self, path: Path, gltf: dict[str, Any], bin_chunk: bytes | None) -> None:
        self.path = path
        self.json = gltf
        self._bin = bin_chunk
        self._buffers: dict[int, bytes] = {}
        self._accessors: dict[tuple[int, bool], np.ndarray] = {}
        self._unbacked = 0  # components of accessors without a bufferView decoded so far

    # ----- errors and typed access to the JSON ----------------------------------------------------
    def fail(self, message: str) -> AssetError:
        """An :class:`AssetError` naming the file; ``raise doc.fail("...")``."""
        return AssetError(f"{self.path}: {message}")

    def array(self, key: str) -> list[Any]:
        """The top-level list ``key`` (empty when absent)."""
        value = self.json.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"'{key}' must be a list")
        return value

    def item(self, key: str, index: Any, what: str) -> dict[str, Any]:
        """Element ``index`` of the top-level list ``key``, checked to be an object."""
        items = self.array(key)
        i = self.index(index, len(items), what)
        value = items[i]
        if not isinstance(value, dict):
            raise self.fail(f"{key}[{i}] must be an object")
        return value

    def index(self, value: Any, count: int, what: str) -> int:
        """``value`` checked to be an integer index into a list of ``count`` elements."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            raise self.fail(f"{what} refers to index {value!r}, outside [0, {count})")
        return value

    def integer(self, obj: dict[str, Any], key: str, what: str, default: int | None = None, minimum: int = 0) -> int:
        """The non-negative integer ``obj[key]`` (``default`` when absent)."""
        value = obj.get(key, default)
        if value is None:
            raise self.fail(f"{what} has no '{key}'")
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{what} has an invalid '{key}': {value!r}")
        return value

    def numbers(self, obj: dict[str, Any], key: str, size: int, what: str) -> np.ndarray | None:
        """``obj[key]`` as a float64 array of ``size`` finite numbers, or None when absent."""
        value = obj.get(key)
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) != size
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
        ):
            raise self.fail(f"{what} has an invalid '{key}' (expected {size} numbers)")
        out = np.asarray(value, np.float64)
        if not np.isfinite(out).all():
            raise self.fail(f"{what} has a NaN or infinite '{key}'")
        return out

    # ----- buffers --------------------------------------------------------------------------------
    def buffer(self, index: Any) -> bytes:
        """The bytes of buffer ``index`` (GLB chunk, data: URI or external file), checked against byteLength."""
        i = self.index(index, len(self.array("buffers")), "a buffer view")
        if i in self._buffers:
            return self._buffers[i]
        spec = self.item("buffers", i, "a buffer view")
        length = self.integer(spec, "byteLength", f"buffer {i}")
        uri = spec.get("uri")
        if uri is None:
            if i != 0 or self._bin is None:
                raise self.fail(f"buffer {i} has no uri and the file has no binary chunk")
            data = self._bin
        elif not isinstance(uri, str):
            raise self.fail(f"buffer {i} has an invalid uri")
        elif uri.startswith("data:"):
            data = decode_data_uri(self.path, uri, f"buffer {i}", length)
        else:
            data = read_reference(self.path, uri, f"buffer {i}", length)
        if len(data) < length:
            raise self.fail(f"buffer {i} holds {len(data)} bytes but declares byteLength {length} (truncated?)")
        self._buffers[i] = data
        return data

    def check_images(self) -> None:
        """Refuse image URIs that leave the asset's folder or name non-regular files (see
        :func:`vips.io.guard.resolve_reference`). Images are never read, so a missing one is accepted."""
        for i, image in enumerate(self.array("images")):
            uri = image.get("uri") if isinstance(image, dict) else None
            if isinstance(uri, str) and not uri.startswith("data:"):
                resolve_reference(self.path, uri, f"image {i}", must_exist=False)

    def buffer_view(self, index: Any, what: str) -> tuple[bytes, int, int, int | None]:
        """(buffer bytes, byte offset, byte length, byte stride or None) of a buffer view, range-checked."""
        i = self.index(index, len(self.array("bufferViews")), what)
        view = self.item("bufferViews", i, what)
        label = f"bufferView {i}"
        data = self.buffer(view.get("buffer"))
        offset = self.integer(view, "byteOffset", label, 0)
        length = self.integer(view, "byteLength", label, minimum=1)
        stride = view.get("byteStride")
        if stride is not None:
            stride = self.integer(view, "byteStride", label, minimum=4)
            if stride > 252 or stride % 4:
                raise self.fail(f"{label} has byteStride {stride}; it must be a multiple of 4 in [4, 252]")
        if offset + length > len(data):
            raise self.fail(
                f"{label} spans bytes [{offset}, {offset + length}) outside its buffer of {len(data)} bytes"
            )
        return data, offset, length, stride

    # ----- accessors ------------------------------------------------------------------------------
    def accessor(self, index: Any, what: str, normalize: bool = False) -> np.ndarray:
        """Accessor ``index`` as an array of shape (count,) for SCALAR, (count, n) for VECn, (count, n, n) for
        MATn (row-major: the file's column-major matrices are transposed).

        Integer components are returned as int64, or as float64 in [0, 1] / [-1, 1] when the accessor is
        ``normalized`` or ``normalize`` is set; float components as float64. Sparse accessors are applied.
        """
        n = len(self.array("accessors"))
        i = self.index(index, n, what)
        key = (i, normalize)
        if key not in self._accessors:
            self._accessors[key] = self._decode(i, normalize)
        return self._accessors[key]

    def accessor_info(self, index: int) -> tuple[np.dtype, str]:
        """(component dtype, type) of accessor ``index`` (already index-checked)."""
        acc = self.item("accessors", index, "accessor")
        ctype = acc.get("componentType")
        if not isinstance(ctype, int) or isinstance(ctype, bool) or ctype not in COMPONENT_DTYPES:
            raise self.fail(f"accessor {index} has an invalid componentType {ctype!r}")
        atype = acc.get("type")
        if not isinstance(atype, str) or atype not in TYPE_SHAPES:
            raise self.fail(f"accessor {index} has an invalid type {atype!r}")
        return COMPONENT_DTYPES[ctype], atype

    def _decode(self, i: int, normalize: bool) -> np.ndarray:
        acc = self.item("accessors", i, "accessor")
        label = f"accessor {i}"
        dtype, atype = self.accessor_info(i)
        count = self.integer(acc, "count", label, minimum=1)
        if count > MAX_COUNT:
            raise self.fail(f"{label} declares {count} elements, more than any asset holds (corrupt?)")
        cols, rows = TYPE_SHAPES[atype]
        size = dtype.itemsize
        column_bytes = pad4(rows * size) if cols > 1 else rows * size
        element_bytes = cols * column_bytes
        if "bufferView" in acc:
            data, view_offset, view_length, stride = self.buffer_view(acc["bufferView"], label)
            offset = self.integer(acc, "byteOffset", label, 0)
            if offset % size:
                raise self.fail(f"{label} has byteOffset {offset}, not a multiple of its component size {size}")
            stride = stride or element_bytes
            if stride < element_bytes:
                raise self.fail(f"{label} has elements of {element_bytes} bytes but a byteStride of {stride}")
            end = offset + stride * (count - 1) + element_bytes
            if end > view_length:
                raise self.fail(
                    f"{label} needs bytes [{offset}, {end}) of its bufferView, which has only {view_length} bytes"
                )
            raw = np.ndarray(
                (count, cols, rows),
                dtype,
                buffer=data,
                offset=view_offset + offset,
                strides=(stride, column_bytes, size),
            )
            values = np.array(raw)
        else:
            self._unbacked += count * cols * rows
            if self._unbacked > MAX_UNBACKED_COMPONENTS:
                raise self.fail(
                    f"{label} has no bufferView and declares {count} {atype} elements; with the file's other "
                    f"accessors without data that is more than the {MAX_UNBACKED_COMPONENTS} components of zeros "
                    "this reader fills in (corrupt file?)"
                )
            values = np.zeros((count, cols, rows), dtype)
        if "sparse" in acc:
            self._apply_sparse(acc["sparse"], values, label)
        values = self._convert(values, dtype, normalize or bool(acc.get("normalized", False)))
        if cols > 1:
            return np.ascontiguousarray(values.transpose(0, 2, 1))
        return values[:, 0, 0] if rows == 1 else values[:, 0, :]

    @staticmethod
    def _convert(values: np.ndarray, dtype: np.dtype, normalized: bool) -> np.ndarray:
        if dtype.kind == "f":
            return values.astype(np.float64)
        if not normalized:
            return values.astype(np.int64)
        top = float(np.iinfo(dtype).max)
        return np.maximum(values.astype(np.float64) / top, -1.0)

    def _apply_sparse(self, sparse: Any, values: np.ndarray, label: str) -> None:
        if not isinstance(sparse, dict):
            raise self.fail(f"{label} has an invalid 'sparse' object")
        count = self.integer(sparse, "count", f"{label} sparse", minimum=1)
        idx_spec, val_spec = sparse.get("indices"), sparse.get("values")
        if not isinstance(idx_spec, dict) or not isinstance(val_spec, dict):
            raise self.fail(f"{label} sparse needs 'indices' and 'values' objects")
        ctype = idx_spec.get("componentType")
        if ctype not in (5121, 5123, 5125) or isinstance(ctype, bool):
            raise self.fail(f"{label} sparse indices have an invalid componentType {ctype!r}")
        idx = self._tight(idx_spec, COMPONENT_DTYPES[ctype], count, 1, f"{label} sparse indices").reshape(-1)
        if count > values.shape[0] or idx.max() >= values.shape[0]:
            raise self.fail(f"{label} sparse indices point outside the accessor's {values.shape[0]} elements")
        if np.any(np.diff(idx.astype(np.int64)) <= 0):
            raise self.fail(f"{label} sparse indices must be strictly increasing")
        per = values.shape[1] * values.shape[2]
        vals = self._tight(val_spec, values.dtype, count, per, f"{label} sparse values")
        values[idx.astype(np.int64)] = vals.reshape((count,) + values.shape[1:])

    def _tight(self, spec: dict[str, Any], dtype: np.dtype, count: int, per: int, label: str) -> np.ndarray:
        """A tightly packed (count, per) block from a sparse indices/values object."""
        data, view_offset, view_length, _ = self.buffer_view(spec.get("bufferView"), label)
        offset = self.integer(spec, "byteOffset", label, 0)
        nbytes = count * per * dtype.itemsize
        if offset + nbytes > view_length:
            raise self.fail(f"{label} needs {nbytes} bytes at offset {offset}; its bufferView has {view_length}")
        return np.frombuffer(data, dtype, count * per, view_offset + offset).reshape(count, per).copy()


def parse_file(path: Path) -> GltfDocument:
    """Read a .glb or .gltf file into a :class:`GltfDocument`; AssetError for anything structurally wrong."""
    data = read_asset(path, MAX_BINARY_BYTES)
    if data[:4] == GLB_MAGIC:
        gltf_bytes, bin_chunk = _split_glb(path, data)
    else:
        gltf_bytes, bin_chunk = data, None
    try:
        gltf = json.loads(gltf_bytes.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AssetError(f"{path}: the glTF JSON is corrupt ({exc})") from None
    if not isinstance(gltf, dict):
        raise AssetError(f"{path}: the glTF JSON is not an object")
    asset = gltf.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version, str) or not version.startswith("2."):
        raise AssetError(f"{path}: not a glTF 2.0 file (asset.version is {version!r})")
    return GltfDocument(path, gltf, bin_chunk)


def _split_glb(path: Path, data: bytes) -> tuple[bytes, bytes | None]:
    """(JSON chunk, BIN chunk or None) of GLB bytes, checking header, lengths and chunk order."""
    if len(data) < 20:
        raise AssetError(f"{path}: truncated GLB ({len(data)} bytes; the header alone is 20)")
    _, version, length = struct.unpack_from("<4sII", data, 0)
    if version != GLB_VERSION:
        raise AssetError(f"{path}: GLB version {version}; only glTF 2.0 binary files are supported")
    if length != len(data):
        state = "truncated" if length > len(data) else "has trailing bytes"
        raise AssetError(f"{path}: GLB header declares {length} bytes but the file has {len(data)} ({state})")
    chunks: list[tuple[int, bytes]] = []
    pos = 12
    while pos < length:
        if pos + 8 > length:
            raise AssetError(f"{path}: truncated GLB chunk header at byte {pos}")
        chunk_length, chunk_type = struct.unpack_from("<II", data, pos)
        start = pos + 8
        if start + chunk_length > length:
            raise AssetError(f"{path}: GLB chunk at byte {pos} declares {chunk_length} bytes past the end of the file")
        chunks.append((chunk_type, data[start : start + chunk_length]))
        pos = start + pad4(chunk_length)
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise AssetError(f"{path}: the first GLB chunk must be JSON")
    bin_chunk = next((body for kind, body in chunks[1:] if kind == CHUNK_BIN), None)
    return chunks[0][1], bin_chunk


def build_glb(gltf: dict[str, Any], binary: bytes) -> bytes:
    """GLB bytes of a glTF JSON object and its binary buffer (padded to 4 bytes as the spec requires)."""
    text = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (pad4(len(text)) - len(text))
    binary = binary + b"\0" * (pad4(len(binary)) - len(binary))
    parts = [struct.pack("<II", len(text), CHUNK_JSON), text]
    if binary:
        parts += [struct.pack("<II", len(binary), CHUNK_BIN), binary]
    body = b"".join(parts)
    return struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, 12 + len(body)) + body


# ----- what vips records in the files it writes ------------------------------------------------------------
#: Key of the scene's ``extras`` object where vips records the SkelRoot name and the asset's frame.
SCENE_EXTRAS_KEY = "vips"
#: Key of an animation's ``extras`` where vips records the clip's exact frame rate (its keys are at k / fps).
FPS_EXTRAS_KEY = "vips_fps"


def asset_frame_trs(up_axis: str, meters_per_unit: float) -> dict[str, list[float]]:
    """The TRS of the node that turns an asset's frame (``up_axis``, ``meters_per_unit``) into glTF's Y-up metres:
    ``{"rotation": xyzw, "scale": xyz}`` entries where they are not the identity, {} when nothing is needed."""
    trs: dict[str, list[float]] = {}
    if up_axis == "Z":
        s = float(np.sqrt(0.5))
        trs["rotation"] = [-s, 0.0, 0.0, s]  # -90 degrees about X takes +Z up to +Y up
    if meters_per_unit != 1.0:
        trs["scale"] = [float(meters_per_unit)] * 3
    return trs
