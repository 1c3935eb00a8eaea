"""Example assets shipped inside the package (see ``vips/assets/README.md`` for their origin and licence)."""

from __future__ import annotations

from pathlib import Path

from vips.errors import AssetError

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
PREFIX = "example:"


def list_examples() -> dict[str, Path]:
    """Name (file stem) -> path of every shipped example asset."""
    return {p.stem: p for p in sorted(ASSETS_DIR.iterdir()) if p.suffix.lower() in (".glb", ".gltf", ".usda", ".bvh")}


def resolve(name_or_path: str | Path) -> Path:
    """``example:NAME`` -> the shipped asset's path; anything else is returned as a Path unchanged."""
    text = str(name_or_path)
    if not text.startswith(PREFIX):
        return Path(text)
    name = text[len(PREFIX):]
    examples = list_examples()
    if name not in examples:
        raise AssetError(f"no example asset named '{name}' (examples: {', '.join(examples)})")
    return examples[name]
