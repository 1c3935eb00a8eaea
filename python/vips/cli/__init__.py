"""The ``vips`` command line. Each command is a thin layer over the Python API.

One module per command group, each a set of plain functions; this file registers them on the app, in the
order ``vips --help`` lists them:

* :mod:`~vips.cli.assets`: info, convert, usd-plugin-path, examples
* :mod:`~vips.cli.data`: dataset build
* :mod:`~vips.cli.model`: train, eval, export-onnx
* :mod:`~vips.cli.bench`: bench
* :mod:`~vips.cli.poses`: sample, interpolate, animate, ik, score, limits, keyframes
* :mod:`~vips.cli.fit`: fit
* :mod:`~vips.cli.batch`: batch

Shared by all: :mod:`~vips.cli.app` (the Typer app, :func:`main`), :mod:`~vips.cli.common` (error reporting,
asset loading, optional-dependency messages) and :mod:`~vips.cli.checks` (argument ranges, input files).
"""

from __future__ import annotations

from vips.cli import assets, batch, bench, data, fit, model, poses
from vips.cli.app import app, main

app.command("info")(assets.info)
app.command("convert")(assets.convert)
app.add_typer(data.dataset_app, name="dataset")
app.command("train")(model.train)
app.command("eval")(model.evaluate)
app.command("bench")(bench.bench)
app.command("usd-plugin-path")(assets.usd_plugin_path)
app.command("examples")(assets.examples)
app.command("sample")(poses.sample_command)
app.command("interpolate")(poses.interpolate_command)
app.command("animate")(poses.animate_command)
app.command("ik")(poses.ik_command)
app.command("score")(poses.score_command)
app.command("limits")(poses.limits_command)
app.command("keyframes")(poses.keyframes_command)
app.command("export-onnx")(model.export_onnx_command)
app.command("fit")(fit.fit_command)
app.command("batch")(batch.batch_command)

__all__ = ["app", "main"]
