"""SKAB's leaderboard protocol (benchmarks/skab.py) at default options: a regression floor.

Needs the SKAB files beside the project (../shared/data/skab, or SKAB_DATA=DIR); skipped
without them. Measured with `python benchmarks/skab.py --seeds 3`: F1 0.730-0.739 (seed 0:
0.739) since alerts span gaps of up to seq_len rows (0.744-0.749 with raw flags,
`--merge-gap 0`); flagging every row gets 0.698.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import skab  # noqa: E402

DATA = Path(os.environ.get("SKAB_DATA", skab.DEFAULT_DATA))
F1_FLOOR = 0.72


@pytest.mark.slow  # 34 files, one model each (about a minute alone)
@pytest.mark.skipif(not DATA.is_dir(), reason=f"no SKAB data at {DATA} (set SKAB_DATA)")
def test_leaderboard_f1_stays_above_its_floor_and_flag_all(one_thread):
    from lstmae_cli.errors import LstmaeWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LstmaeWarning)  # drift outside the training range
        files = skab.labelled_files(DATA)
        ours = skab.leaderboard(files, {}, seed=0)
    trivial = skab.flag_all(files, skab.TRAIN_ROWS)
    assert ours["f1"] >= F1_FLOOR, f"F1 {ours['f1']:.3f} below its floor {F1_FLOOR}"
    assert ours["f1"] > trivial["f1"] and ours["far"] < trivial["far"]
