"""Comparative statistics of a target log against the baseline a bundle was trained on.

The target is parsed once more with a copy of the bundle's template state, this time learning: its
messages that match no baseline template become new templates (the "only in the target" list, with
their first line), and the state's counts give each template's frequency on both sides (baseline =
the training lines, from the bundle's state; target = what this parse added).

Writes `comparative_analysis.json` and `comparative_analysis.md` into the output folder (log text in
the Markdown through reports/escape.py; raw in the JSON).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from anomaly_log_detector.parsing.run import parse_logs
from anomaly_log_detector.reports.escape import code_span
from anomaly_log_detector.reports.inputs import PARSED, take_rows
from anomaly_log_detector.reports.messages import t
from anomaly_log_detector.workflows.model import TrainedModel

COMPARATIVE_JSON, COMPARATIVE_MD = "comparative_analysis.json", "comparative_analysis.md"
TOP = 20
# A baseline template this frequent that the target never shows is listed as missing.
MISSING_MIN_SHARE = 0.01


def _sizes(state: bytes) -> pd.DataFrame:
    """`template` and `size` (lines learned) per cluster id of a template state."""
    clusters = json.loads(state.decode("utf-8"))["clusters"]
    return pd.DataFrame(clusters, columns=["id", "template", "size"]).set_index("id")


def _first_lines(parsed_dir: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Source, line number and raw text of the first line of each template id."""
    keys = pq.read_table(Path(parsed_dir) / PARSED, columns=["template_id", "source", "line_no"]).to_pandas()
    keys["row"] = range(len(keys))
    first = keys.drop_duplicates("template_id").set_index("template_id").loc[ids]
    raw = take_rows(parsed_dir, first["row"], ["raw"])["raw"]
    return {int(r.Index): {"source": r.source, "line_no": int(r.line_no), "raw": raw.at[r.row]}
            for r in first.itertuples()}


def comparative_stats(model: TrainedModel, target: str, quiet: bool = True) -> dict[str, Any]:
    """Templates only in `target` and per-template frequency ratios target / baseline."""
    before = _sizes(model.drain_state)
    with tempfile.TemporaryDirectory(prefix="alog-comparative-") as tmp:
        state, rules = model.write_parse_inputs(Path(tmp) / "model")
        p = model.parser
        parsed = parse_logs([target], f"{tmp}/parsed", drain_state=str(state), rules=str(rules),
                            format=p["format"], log_format=p.get("log_format"),
                            session_regex=p.get("session_regex"), quiet=quiet)
        after = _sizes(state.read_bytes())
        counts = after["size"].sub(before["size"], fill_value=0).astype(int)
        new_ids = [int(i) for i in counts[~counts.index.isin(before.index) & (counts > 0)]
                   .sort_values(ascending=False, kind="stable").index]
        first = _first_lines(f"{tmp}/parsed", new_ids) if new_ids else {}
    n_base, n_target = int(before["size"].sum()), int(parsed["lines_parsed"])
    table = pd.DataFrame({"template": after["template"], "target_count": counts,
                          "baseline_count": before["size"].reindex(after.index, fill_value=0)})
    table["baseline_share"] = table["baseline_count"] / max(n_base, 1)
    table["target_share"] = table["target_count"] / max(n_target, 1)
    both = table[(table["baseline_count"] > 0) & (table["target_count"] > 0)].copy()
    both["ratio"] = both["target_share"] / both["baseline_share"]
    both = both.iloc[np.argsort(-np.abs(np.log(both["ratio"].to_numpy(float))), kind="stable")].head(TOP)
    missing = table[(table["target_count"] == 0) & (table["baseline_share"] >= MISSING_MIN_SHARE)]
    return {
        "target": target, "baseline_lines": n_base, "target_lines": n_target,
        "templates_only_in_target": [
            {"template_id": i, "template": after.at[i, "template"], "count": int(counts[i]),
             "target_share": int(counts[i]) / max(n_target, 1), "first_line": first[i]} for i in new_ids],
        "frequency_changes": _records(both, ["template", "baseline_count", "target_count", "baseline_share",
                                             "target_share", "ratio"]),
        "missing_in_target": _records(missing.sort_values("baseline_share", ascending=False, kind="stable"),
                                      ["template", "baseline_count", "baseline_share"]),
    }


def _records(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    out = df[columns].reset_index(names="template_id").to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def render(stats: dict[str, Any], lang: str = "en") -> str:
    """The Markdown page of :func:`comparative_stats`."""
    md = [f"# {t('comparative.title', lang)}", "",
          t("comparative.intro", lang, target=code_span(stats["target"]), target_lines=f"{stats['target_lines']:,}",
            baseline_lines=f"{stats['baseline_lines']:,}"), "",
          f"## {t('comparative.only_target', lang)} ({len(stats['templates_only_in_target'])})", ""]
    md += _table([t("report.count", lang), t("report.template", lang), t("comparative.first_line", lang)],
                 [[x["count"], code_span(x["template"], table=True),
                   f"{x['first_line']['line_no']}: {code_span(x['first_line']['raw'], table=True)}"]
                  for x in stats["templates_only_in_target"][:TOP]])
    md += ["", f"## {t('comparative.changed', lang)}", ""]
    md += _table([t("comparative.baseline_share", lang), t("comparative.target_share", lang),
                  t("comparative.ratio", lang), t("report.template", lang)],
                 [[f"{x['baseline_share']:.2%}", f"{x['target_share']:.2%}", f"{x['ratio']:.2f}",
                   code_span(x["template"], table=True)] for x in stats["frequency_changes"]])
    md += ["", f"## {t('comparative.missing', lang)}", ""]
    md += _table([t("comparative.baseline_share", lang), t("report.template", lang)],
                 [[f"{x['baseline_share']:.2%}", code_span(x["template"], table=True)]
                  for x in stats["missing_in_target"]])
    return "\n".join(md) + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["-"]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def write_comparative(model: TrainedModel, target: str, out_dir: str | os.PathLike,
                      quiet: bool = True) -> dict[str, Path]:
    """Compute :func:`comparative_stats` and write its JSON and Markdown into `out_dir`."""
    stats = comparative_stats(model, target, quiet)
    out = Path(out_dir)
    paths = {"json": out / COMPARATIVE_JSON, "md": out / COMPARATIVE_MD}
    for path, text in ((paths["json"], json.dumps(stats, ensure_ascii=False, indent=1) + "\n"),
                       (paths["md"], render(stats))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return paths
