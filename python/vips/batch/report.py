"""The batch report: ``report.json`` (one entry per input asset) and ``report.html`` (the same, for people).

An entry has ``path`` (relative to the library), ``kind``, ``status`` (done: processed in this run; skipped:
finished by an earlier run with the same inputs and settings, outputs kept; failed), ``outputs`` (paths
relative to the output folder, sizes and sha256), ``counts``, ``timings`` (seconds) and, for a failure,
``reason``. The HTML page links every file relatively, so the output folder can be moved or served as is.

The run's description sits beside the entries: ``processed`` (assets done or failed in this run) and
``assets_per_minute`` (processed ones only, never skipped ones), and ``interrupted``: null, or ``{"signal":
"SIGINT", "unfinished": [paths]}`` when a signal stopped the run (the entries are then what finished).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vips.io.atomic import write_bytes_atomic

REPORT_FORMAT = "vips-batch-report/1"
STATUSES = ("done", "skipped", "failed")


def failed_entry(asset, reason: str) -> dict[str, Any]:  # noqa: ANN001 - a vips.io.discover.Asset
    return {"path": asset.rel, "kind": asset.kind, "status": "failed", "reason": reason, "outputs": []}


def skipped_entry(record: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in record.items() if k != "format"}
    entry["status"] = "skipped"
    return entry


def build_report(entries: list[dict[str, Any]], ignored: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    """The report dict: ``meta`` (library, out, engine, settings, seconds...) + counts + sorted entries."""
    entries = sorted(entries, key=lambda e: e["path"])
    counts = {s: sum(e["status"] == s for e in entries) for s in STATUSES}
    counts["total"] = len(entries)
    counts["poses"] = sum(e.get("counts", {}).get("poses", 0) for e in entries if e["status"] != "failed")
    return {"format": REPORT_FORMAT, **meta, "counts": counts, "assets": entries, "ignored": sorted(ignored)}


def write_report(out_dir: str | os.PathLike[str], report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` atomically; returns both paths."""
    out = Path(out_dir)
    json_path, html_path = out / "report.json", out / "report.html"
    write_bytes_atomic(json_path, json.dumps(report, indent=1).encode())
    write_bytes_atomic(html_path, render_html(report, out).encode())
    return json_path, html_path


def _link(rel: str, text: str | None = None) -> str:
    return f'<a href="{quote(rel)}">{html.escape(text or rel)}</a>'


def _output_links(entry: dict[str, Any]) -> list[str]:
    """Links to the asset's files; a subfolder (keyframe PNGs) is one link, to its JSON index if it has one."""
    prefix = entry["path"] + "/"
    links, folders = [], {}
    for o in entry.get("outputs", []):
        name = o["path"].removeprefix(prefix)
        if "/" not in name:
            links.append(_link(o["path"], name))
            continue
        folder = name.split("/", 1)[0]
        if folder not in folders or o["path"].endswith(".json"):
            folders[folder] = o["path"]
    count = {f: sum(o["path"].startswith(prefix + f + "/") for o in entry.get("outputs", [])) for f in folders}
    links += [_link(path, f"{f}/ ({count[f]} files)") for f, path in folders.items()]
    return links


def _row(entry: dict[str, Any], out: Path) -> str:
    status = entry["status"]
    thumb = entry.get("thumbnail")
    if status != "failed" and thumb and (out / thumb).is_file():
        cell = f'<a href="{quote(thumb)}"><img src="{quote(thumb)}" alt="thumbnail of {html.escape(entry["path"])}"></a>'
    else:
        cell = '<div class="none">no image</div>'
    counts = entry.get("counts", {})
    rig = f"{counts.get('joints', '?')} joints, {counts.get('vertices', 0)} vertices" if counts else ""
    poses = f"{counts.get('plausible', '?')} / {counts.get('poses', '?')} plausible" if counts else ""
    outputs = "<br>".join(_output_links(entry))
    timing = entry.get("timings", {}).get("total")
    detail = html.escape(entry.get("reason", "")) or "<br>".join(html.escape(w) for w in entry.get("warnings", []))
    return (f'<tr class="{status}"><td>{cell}</td><td><b>{html.escape(entry["path"])}</b><br>{entry.get("kind", "")}'
            f'</td><td class="status">{status}</td><td>{rig}<br>{poses}</td><td>{outputs}</td>'
            f'<td>{"" if timing is None else f"{timing:.2f} s"}</td><td class="detail">{detail}</td></tr>')


STYLE = """body{font-family:sans-serif;margin:1.5em;background:#fafafa;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:6px;vertical-align:top;
text-align:left;font-size:14px}img{width:128px;height:128px;display:block}.none{width:128px;height:128px;
background:#eee;color:#999;display:flex;align-items:center;justify-content:center}
tr.failed .status{color:#b00020;font-weight:bold}tr.done .status{color:#0a7a2f}tr.skipped .status{color:#666}
.detail{max-width:32em;word-break:break-word}"""


def render_html(report: dict[str, Any], out: Path) -> str:
    """A self-contained page: summary line, then one row per asset (failures first)."""
    c = report["counts"]
    order = {"failed": 0, "done": 1, "skipped": 2}
    rows = "\n".join(_row(e, out) for e in sorted(report["assets"], key=lambda e: (order[e["status"]], e["path"])))
    ignored = "".join(f"<li>{html.escape(p)}</li>" for p in report.get("ignored", []))
    stop = report.get("interrupted")
    stopped = (f"<p><b>Interrupted by {html.escape(stop['signal'])}</b>: {len(stop['unfinished'])} assets were not "
               "finished; run the same command again to finish them.</p>" if stop else "")
    settings = html.escape(json.dumps(report.get("settings", {}), sort_keys=True))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ViPS batch report</title><style>{STYLE}</style></head>
<body><h1>ViPS batch report</h1>
<p>Library <code>{html.escape(str(report.get('library', '')))}</code>, engine {html.escape(str(report.get('engine', '')))},
{c['total']} assets: <b>{c['done']} done</b>, {c['skipped']} skipped (unchanged since an earlier run),
<b>{c['failed']} failed</b>; {c['poses']} poses; {report.get('seconds', 0):.1f} s.</p>
{stopped}<p>Settings: <code>{settings}</code></p>
<table><tr><th>thumbnail</th><th>asset</th><th>status</th><th>rig / poses</th><th>outputs</th><th>time</th>
<th>reason / warnings</th></tr>
{rows}
</table>
{f'<h2>Ignored files</h2><ul>{ignored}</ul>' if ignored else ''}
</body></html>
"""
