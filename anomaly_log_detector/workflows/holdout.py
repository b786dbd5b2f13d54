"""Held-out normal lines: how often a model alarms on normal data it was not trained on.

Training keeps the last `holdout` share of the parsed lines (in input order) out of the detectors'
training. Those lines are written as a processed folder of their own, with every template that does
not occur in the training part turned into `<UNSEEN>`, exactly what a frozen parse against a state
learned from the training part alone would mostly give. Then the same detectors and the same result
table as inference run over it: every line the table would report is a false alarm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anomaly_log_detector.reports.hits import collect_hits
from anomaly_log_detector.reports.inputs import BASELINE, PARSED, read_keys, read_table
from anomaly_log_detector.fileio.schema import UNSEEN_ID, UNSEEN_TEMPLATE
from anomaly_log_detector.workflows.detect import run_detectors
from anomaly_log_detector.workflows.model import TrainedModel

BATCH_ROWS = 65536


def holdout_rows(n_lines: int, share: float) -> int:
    """How many tail lines are held out: floor(share * lines), and none when that leaves no training line."""
    n = int(n_lines * share)
    return n if 0 < n < n_lines else 0


def write_tail(parsed_path: str | os.PathLike, start_row: int, known_ids: Iterable[int],
               out_dir: str | os.PathLike) -> Path:
    """Write rows `start_row..` of a parsed.parquet to `out_dir/parsed.parquet`, streaming, with
    templates outside `known_ids` turned into `<UNSEEN>` (id -1)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / PARSED
    tmp = target.with_name(target.name + ".tmp")
    known = pa.array(sorted(set(int(i) for i in known_ids)), pa.int64())
    writer: pq.ParquetWriter | None = None
    row = 0
    try:
        for batch in pq.ParquetFile(parsed_path).iter_batches(batch_size=BATCH_ROWS):
            n = batch.num_rows
            row += n
            if row <= start_row:
                continue
            table = pa.Table.from_batches([batch.slice(max(0, start_row - (row - n)))])
            seen = pc.is_in(table["template_id"], value_set=known)
            table = table.set_column(table.schema.get_field_index("template_id"), "template_id",
                                     pc.if_else(seen, table["template_id"], pa.scalar(UNSEEN_ID, pa.int64())))
            table = table.set_column(table.schema.get_field_index("template"), "template",
                                     pc.if_else(seen, table["template"], pa.scalar(UNSEEN_TEMPLATE)))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, target)
    return target


def measure_normal(processed_dir: str | os.PathLike, model: TrainedModel) -> dict[str, Any]:
    """Run `model` over a processed folder of normal lines and measure its alarms on them.

    Returns line counts, the false-alarm rate (lines the result table would report / lines), template
    coverage (lines matching a training template / lines), per-detector flagged lines, and the
    baseline's threshold against the same quantile of these windows' scores (threshold stability)."""
    d = Path(processed_dir)
    detected = run_detectors(d, model)
    keys = read_keys(d)
    hits = collect_hits(d, keys)
    n = int(len(keys))
    unseen = int((keys["template_id"].to_numpy() == UNSEEN_ID).sum())
    scores = read_table(d / BASELINE, ["score"])["score"].to_numpy(float)
    quantile = float(np.quantile(scores, model.baseline.quantile)) if scores.size else 0.0
    flagged = int(hits["row"].nunique())
    return {
        "lines": n, "flagged_lines": flagged, "false_alarm_rate": flagged / n if n else 0.0,
        "flagged_lines_by_detector": {str(k): int(v) for k, v in hits.groupby("detector")["row"].nunique().items()},
        "unseen_lines": unseen, "template_coverage": 1.0 - unseen / n if n else 1.0,
        "windows": int(scores.size), "flagged_windows": detected["baseline"]["flagged_windows"],
        "baseline_threshold": float(model.baseline.threshold_), "window_score_quantile": quantile,
        "deeplog": detected.get("deeplog"),
    }
