"""Comparative analysis: how does a target log's template mix differ from normal logs?

Two entry points share the distribution measures of :func:`distribution_stats`:

* :func:`analyze_comparative` (``alog-detect analyze-comparative``): parsed files (``parsed.parquet`` or
  processed folders holding one), a target against each baseline. Templates are matched **by their
  text**: files parsed separately mine their own templates, so the same message can get slightly
  different template text in two files; parse them with one shared ``--drain-state`` (the baseline
  first, the target ``--frozen`` or not) to get consistent templates. ``<UNSEEN>`` lines (a frozen parse)
  are counted but left out of the distributions. Writes ``comparative_report.md`` and
  ``comparative_results.json`` (default folder ``comparative_analysis``).
* :func:`write_comparative` (``batch-analysis --enhanced``): the target parsed once more against a
  copy of the bundle's template state, learning (its messages that match no baseline template become
  new templates), so template identity is the cluster id; writes ``comparative_analysis.json`` / ``.md``.

Measures, over the union of templates of the two sides (counts c):

* cosine similarity of the count vectors (1 = the same mix, 0 = no template in common);
* KL divergence in nats, both directions, of additively smoothed distributions
  ``p_i = (c_i + ALPHA) / (N + ALPHA * V)`` (``ALPHA`` = 0.5, Jeffreys / Krichevsky-Trofimov; V = the
  union size), so a template missing on one side gives a finite value; ``kl_target_baseline`` =
  KL(target || baseline), large when the target holds what the baseline rarely has;
  ``kl_baseline_target`` the other way, large when the target lacks what the baseline often has;
* Jensen-Shannon divergence (base 2, in [0, 1], symmetric, unsmoothed).

Identical files give cosine 1 and KL 0. Log text in the Markdown goes through reports/escape.py; the
JSON keeps it raw.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.analyzers.timerange import filter_time_range
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE
from anomaly_log_detector.reports.escape import code_span
from anomaly_log_detector.reports.inputs import PARSED, take_rows
from anomaly_log_detector.reports.messages import check_lang, t

if TYPE_CHECKING:  # a type only: analyzers do not import the workflows at run time
    from anomaly_log_detector.workflows.model import TrainedModel

COMPARATIVE_DIR = "comparative_analysis"
REPORT_MD, RESULTS_JSON = "comparative_report.md", "comparative_results.json"
COMPARATIVE_JSON, COMPARATIVE_MD = "comparative_analysis.json", "comparative_analysis.md"
TOP = 20
# A baseline template this frequent that the target never shows is listed as missing.
MISSING_MIN_SHARE = 0.01
#: additive smoothing of the KL divergences (Jeffreys prior)
ALPHA = 0.5


# ---- measures --------------------------------------------------------------------------------------

def distribution_stats(baseline: pd.Series, target: pd.Series, alpha: float = ALPHA) -> dict[str, Any]:
    """Cosine similarity, smoothed KL divergences (both directions, nats) and Jensen-Shannon divergence
    (bits) of two count Series indexed by template (text or id); see the module docstring."""
    keys = baseline.index.union(target.index)
    b = baseline.reindex(keys, fill_value=0).to_numpy(dtype=float)
    c = target.reindex(keys, fill_value=0).to_numpy(dtype=float)
    out: dict[str, Any] = {"templates_union": int(len(keys)), "templates_shared": int(((b > 0) & (c > 0)).sum()),
                           "smoothing": {"method": "additive", "alpha": alpha}}
    if not len(keys) or b.sum() == 0 or c.sum() == 0:
        return {**out, "cosine": None, "kl_target_baseline": None, "kl_baseline_target": None, "js_divergence": None}
    cosine = float(b @ c / (np.linalg.norm(b) * np.linalg.norm(c)))
    pb, pc = (b + alpha) / (b.sum() + alpha * len(b)), (c + alpha) / (c.sum() + alpha * len(c))
    qb, qc = b / b.sum(), c / c.sum()
    m = (qb + qc) / 2

    def kl2(p: np.ndarray, q: np.ndarray) -> float:
        nz = p > 0
        return float((p[nz] * np.log2(p[nz] / q[nz])).sum())

    return {**out, "cosine": min(cosine, 1.0), "kl_target_baseline": max(float((pc * np.log(pc / pb)).sum()), 0.0),
            "kl_baseline_target": max(float((pb * np.log(pb / pc)).sum()), 0.0),
            "js_divergence": min(max((kl2(qb, m) + kl2(qc, m)) / 2, 0.0), 1.0)}


# ---- reading parsed files --------------------------------------------------------------------------

def parsed_file(path: str | os.PathLike) -> Path:
    """The parsed.parquet of `path` (the file itself, or a processed folder holding one)."""
    p = Path(path)
    f = p / PARSED if p.is_dir() else p
    if not f.is_file():
        raise DataError(f"{f}: not found (give a parsed.parquet or a folder holding one; "
                        f"`alog-detect parse --out-dir DIR` writes it)")
    return f


def _read(path: Path, since: datetime | None, until: datetime | None) -> tuple[pd.DataFrame, dict]:
    """`template`, `source`, `line_no` (+ `timestamp`) of a parsed file, range-filtered; index = row."""
    try:
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        wanted = [c for c in ("template", "source", "line_no", "timestamp") if c in names]
        df = f.read(columns=wanted).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parsed.parquet ({exc})") from None
    if "template" not in df.columns:
        raise DataError(f"{path}: missing column template (is this a parsed.parquet?)")
    df, rng = filter_time_range(df, since, until)
    return df, rng.to_dict()


def _take_raw(path: Path, rows: list[int]) -> dict[int, str]:
    """Raw text of the given row positions of a parsed file (read one row group at a time)."""
    if not rows:
        return {}
    if path.name == PARSED:
        raw = take_rows(path.parent, rows, ["raw"])["raw"]
        return {int(i): v for i, v in raw.items()}
    f = pq.ParquetFile(path)
    if "raw" not in f.schema_arrow.names:
        return {}
    wanted, out, start = np.unique(rows), {}, 0
    for i in range(f.num_row_groups):
        n = f.metadata.row_group(i).num_rows
        inside = wanted[(wanted >= start) & (wanted < start + n)]
        if inside.size:
            col = f.read_row_group(i, columns=["raw"]).column("raw").take(pa.array(inside - start)).to_pylist()
            out.update(zip(inside.tolist(), col))
        start += n
    return out


def _counts(df: pd.DataFrame) -> pd.Series:
    known = df["template"][df["template"] != UNSEEN_TEMPLATE]
    return known.value_counts(sort=False).astype(np.int64)


# ---- standalone: target against baselines ----------------------------------------------------------

def _only_in_target(target: pd.DataFrame, counts: pd.Series, others: Iterable[str], n_target: int,
                    raw_of: dict[int, str]) -> list[dict[str, Any]]:
    """Templates of the target absent from `others`, most frequent first, each with its first line."""
    others = set(others)
    only = counts[~counts.index.isin(others)].sort_values(ascending=False, kind="stable")
    first = _first_rows(target)
    return [{"template": tpl, "count": int(n), "target_share": int(n) / max(n_target, 1),
             "first_line": {"source": target.at[first[tpl], "source"],
                            "line_no": None if pd.isna(target.at[first[tpl], "line_no"])
                            else int(target.at[first[tpl], "line_no"]),
                            "raw": raw_of.get(int(first[tpl]))}}
            for tpl, n in only.items()]


def _first_rows(df: pd.DataFrame) -> pd.Series:
    """template -> row position of its first line (input order)."""
    return pd.Series(df.index, index=df.index).groupby(df["template"].to_numpy(), sort=False).first()


def analyze_comparative(target: str | os.PathLike, baselines: list, output_dir: str | os.PathLike = COMPARATIVE_DIR,
                        *, lang: str = "en", since: datetime | None = None,
                        until: datetime | None = None) -> dict[str, Any]:
    """Compare the template distribution of `target` with each of `baselines` (parsed.parquet files or
    processed folders) and write ``comparative_report.md`` + ``comparative_results.json`` into
    `output_dir`. `since` / `until` restrict every side to that time range.

    Returns the results (as in the JSON: ``target``, ``baselines`` [one entry per baseline with its
    measures, ``templates_only_in_target``, ``missing_in_target``], ``templates_only_in_target``
    against all baselines together) plus ``report``, ``results`` and ``outputs`` {name: Path}."""
    check_lang(lang)
    if not baselines:
        raise DataError("give at least one baseline (--baselines)")
    tpath = parsed_file(target)
    bpaths = [parsed_file(b) for b in baselines]
    tdf, trange = _read(tpath, since, until)
    tcounts = _counts(tdf)
    n_target = int(len(tdf))
    unseen = int((tdf["template"] == UNSEEN_TEMPLATE).sum())
    sides = []
    all_base: set[str] = set()
    for bp in bpaths:
        bdf, brange = _read(bp, since, until)
        bcounts = _counts(bdf)
        all_base |= set(bcounts.index)
        sides.append((bp, bdf, bcounts, brange))
    first = _first_rows(tdf)
    only_union = set(tcounts.index) - all_base
    wanted_rows = {int(first[tpl]) for tpl in tcounts.index if tpl in only_union}
    per_side_only = [set(tcounts.index) - set(bc.index) for _, _, bc, _ in sides]
    for s in per_side_only:
        top = tcounts[list(s)].sort_values(ascending=False, kind="stable").index[:TOP]
        wanted_rows |= {int(first[tpl]) for tpl in top}
    raw_of = _take_raw(tpath, sorted(wanted_rows))
    results: dict[str, Any] = {
        "target": str(tpath), "target_lines": n_target, "target_templates": int(len(tcounts)),
        "target_unseen_lines": unseen, "range": trange,
        "method": {"match": "template text", "kl_smoothing": {"method": "additive", "alpha": ALPHA},
                   "kl_unit": "nats", "js_unit": "bits", "missing_min_share": MISSING_MIN_SHARE},
        "baselines": [],
    }
    for (bp, bdf, bcounts, brange), only in zip(sides, per_side_only):
        n_base = int(len(bdf))
        stats = distribution_stats(bcounts, tcounts)
        shares = bcounts / max(n_base, 1)
        missing = shares[(shares >= MISSING_MIN_SHARE) & ~shares.index.isin(tcounts.index)]
        missing = missing.sort_values(ascending=False, kind="stable")
        only_list = _only_in_target(tdf, tcounts[list(only)], [], n_target, raw_of)
        results["baselines"].append({
            "baseline": str(bp), "lines": n_base, "templates": int(len(bcounts)), "range": brange, **stats,
            "templates_only_in_target_count": len(only_list),
            "templates_only_in_target": only_list[:TOP],
            "missing_in_target": [{"template": tpl, "baseline_count": int(bcounts[tpl]), "baseline_share": float(v)}
                                  for tpl, v in missing.items()],
        })
    results["templates_only_in_target"] = _only_in_target(tdf, tcounts[list(only_union)], [], n_target, raw_of)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / REPORT_MD, "results": out / RESULTS_JSON}
    _write_text(paths["results"], json.dumps(results, ensure_ascii=False, indent=1, default=_plain) + "\n")
    _write_text(paths["report"], render_comparison(results, lang))
    return {**results, "report": paths["report"], "results": paths["results"], "outputs": paths}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def render_comparison(results: dict[str, Any], lang: str = "en") -> str:
    """The Markdown page of :func:`analyze_comparative`."""
    md = [f"# {t('comparative.standalone_title', lang)}", "",
          t("comparative.standalone_intro", lang, target=code_span(results["target"]),
            lines=f"{results['target_lines']:,}", templates=f"{results['target_templates']:,}",
            unseen=f"{results['target_unseen_lines']:,}"), "",
          t("comparative.match_note", lang), "",
          f"## {t('comparative.summary', lang)}", ""]
    md += _table([t("comparative.col.baseline", lang), t("comparative.col.lines", lang),
                  t("comparative.col.templates", lang), t("comparative.col.cosine", lang),
                  t("comparative.col.kl_tb", lang), t("comparative.col.kl_bt", lang), t("comparative.col.js", lang),
                  t("comparative.col.only_target", lang), t("comparative.col.missing", lang)],
                 [[code_span(b["baseline"], table=True), f"{b['lines']:,}", f"{b['templates']:,}", _fmt(b["cosine"]),
                   _fmt(b["kl_target_baseline"]), _fmt(b["kl_baseline_target"]), _fmt(b["js_divergence"]),
                   b["templates_only_in_target_count"], len(b["missing_in_target"])] for b in results["baselines"]])
    md += ["", t("comparative.measures_note", lang, alpha=ALPHA), ""]
    only = results["templates_only_in_target"]
    md += [f"## {t('comparative.only_all', lang)} ({len(only)})", ""]
    md += _only_table(only, lang)
    for b in results["baselines"]:
        md += ["", f"## {t('comparative.baseline_head', lang, baseline=code_span(b['baseline']))}", "",
               t("comparative.similarity", lang, cosine=_fmt(b["cosine"]), kl=_fmt(b["kl_target_baseline"]),
                 kl_back=_fmt(b["kl_baseline_target"]), js=_fmt(b["js_divergence"]),
                 shared=f"{b['templates_shared']:,}", union=f"{b['templates_union']:,}"), "",
               f"### {t('comparative.only_target', lang)} ({b['templates_only_in_target_count']})", ""]
        md += _only_table(b["templates_only_in_target"], lang)
        md += ["", f"### {t('comparative.missing', lang)} ({len(b['missing_in_target'])})", ""]
        md += _table([t("comparative.baseline_share", lang), t("report.count", lang), t("report.template", lang)],
                     [[f"{x['baseline_share']:.2%}", f"{x['baseline_count']:,}", code_span(x["template"], table=True)]
                      for x in b["missing_in_target"][:TOP]])
    return "\n".join(md) + "\n"


def _only_table(only: list[dict[str, Any]], lang: str) -> list[str]:
    def first(x: dict[str, Any]) -> str:
        f = x["first_line"]
        where = f"{code_span(f['source'], table=True)}:{f['line_no']}" if f["source"] is not None else str(f["line_no"])
        return where + (f" {code_span(f['raw'], table=True)}" if f.get("raw") is not None else "")

    return _table([t("report.count", lang), t("report.template", lang), t("comparative.first_line", lang)],
                  [[f"{x['count']:,}", code_span(x["template"], table=True), first(x)] for x in only[:TOP]])


# ---- batch-analysis --enhanced: target against a bundle's training baseline ------------------------

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


def comparative_stats(model: "TrainedModel", target: str, quiet: bool = True) -> dict[str, Any]:
    """Templates only in `target`, per-template frequency ratios target / baseline, and the
    distribution measures (:func:`distribution_stats`, by cluster id) against the bundle's training lines."""
    from anomaly_log_detector.parsing.run import parse_logs

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
    similarity = distribution_stats(table["baseline_count"][table["baseline_count"] > 0],
                                    table["target_count"][table["target_count"] > 0])
    return {
        "target": target, "baseline_lines": n_base, "target_lines": n_target, "similarity": similarity,
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
            baseline_lines=f"{stats['baseline_lines']:,}"), ""]
    sim = stats.get("similarity")
    if sim:
        md += [t("comparative.similarity", lang, cosine=_fmt(sim["cosine"]), kl=_fmt(sim["kl_target_baseline"]),
                 kl_back=_fmt(sim["kl_baseline_target"]), js=_fmt(sim["js_divergence"]),
                 shared=f"{sim['templates_shared']:,}", union=f"{sim['templates_union']:,}"), "",
               t("comparative.measures_note", lang, alpha=ALPHA), ""]
    md += [f"## {t('comparative.only_target', lang)} ({len(stats['templates_only_in_target'])})", ""]
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


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_comparative(model: "TrainedModel", target: str, out_dir: str | os.PathLike,
                      quiet: bool = True, lang: str = "en") -> dict[str, Path]:
    """Compute :func:`comparative_stats` and write its JSON and Markdown into `out_dir`."""
    stats = comparative_stats(model, target, quiet)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / COMPARATIVE_JSON, "md": out / COMPARATIVE_MD}
    _write_text(paths["json"], json.dumps(stats, ensure_ascii=False, indent=1) + "\n")
    _write_text(paths["md"], render(stats, lang))
    return paths
