"""T-pose / A-pose agreement of a model's scores and flags, on the frames of `tests/test_default_model.py`.

CesiumMan (A-pose, as shipped) and the same skeleton re-rested with both arms raised 40 degrees (towards a T-pose),
the same bodies on both (its walk, 40 frames, and those frames under every corruption kind): the correlation of the
scores, the share of flags that agree (all poses, the valid frames alone) and the share passing or caught on each
rest. Uses the test's own helpers, so the numbers are the test's.

    python training/experiments/rest_agreement.py [MODEL_DIR]     # default: the shipped model; 1 min
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from conftest import cesium_man  # noqa: E402
from test_default_model import _same_bodies, _scored, _t_pose_of  # noqa: E402

from vips.kinematics import rerested  # noqa: E402
from vips.posespace import PoseSpace  # noqa: E402


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else None
    warnings.simplefilter("ignore")
    rig, clip = cesium_man()
    frames = clip[np.arange(0, len(clip), max(1, len(clip) // 40))]
    t_pose = _t_pose_of(rig)
    a_sets, t_sets = _same_bodies(rig, frames, t_pose)
    a_space, t_space = PoseSpace(rig, model), PoseSpace(rerested(rig, t_pose), model)
    sa, fa = _scored(a_space, a_sets)
    st, ft = _scored(t_space, t_sets)
    v = len(a_sets[0])
    print(f"score correlation {np.corrcoef(sa, st)[0, 1]:.3f} (valid frames {np.corrcoef(sa[:v], st[:v])[0, 1]:.3f}); "
          f"flags agree {np.mean(fa == ft):.3f} (valid frames {np.mean(fa[:v] == ft[:v]):.3f}); "
          f"valid passing A {fa[:v].mean():.2f} T {ft[:v].mean():.2f}; corrupted caught A {1 - fa[v:].mean():.2f} "
          f"T {1 - ft[v:].mean():.2f}")


if __name__ == "__main__":
    main()
