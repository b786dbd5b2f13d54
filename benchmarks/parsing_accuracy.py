"""Parsing accuracy on the Loghub 2k samples: our masking + miner next to plain Drain3, one default config.

Usage: ``.venv/bin/python benchmarks/parsing_accuracy.py [--data DIR] [--variant corrected|loghub2]
[--systems A,B] [--rules FILE] [--no-api] [--no-speed] [--loso]``

Ground truth: ``loghub_2k/<Sys>/<variant>/<Sys>_2k.log_structured_corrected.csv`` (corrected: Khan et al.,
ICSE'22; loghub2: Loghub-2.0). Also times the masking of one perturbed 64k-line chunk against Drain3's.
Metrics (per system, then the mean over systems), see docs/parsing-accuracy.md:

* GA  grouping accuracy: share of lines whose predicted group has exactly the lines of their true group.
* FGA F1 of PGA (correct groups / predicted groups) and RGA (correct groups / true groups).
* PA  parsing accuracy: share of lines whose template equals the true one after normalization.

Contents come from ``anomaly_log_detector.api.parse_logs`` (the real ``parse`` pipeline) when it exists,
else from a local regex built from the Loghub format string (the logparser benchmark's rule).

``--loso`` (leave one system out): a small fixed grid of candidate configurations (rule-set variants x Drain
settings, :func:`candidates`) is scored in-process; for each system, the candidate with the best mean GA on
the *other* systems is picked and scored on the held-out one. The mean of those held-out scores is the
honest "unseen system" figure for the selection step. It also names the one default configuration (the
candidate most folds picked; ties: best mean GA on all systems, then grid order) and scores it in-sample.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from anomaly_log_detector.parsing.loghub import LOG_FORMATS as LOGHUB_LOG_FORMATS
from anomaly_log_detector.config import CHUNK_LINES, DrainConfig

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "loghub_2k"

# The logparser benchmark's header formats, the only per-system input.
LOG_FORMATS = LOGHUB_LOG_FORMATS

# Drain3's own example masking (its drain3.ini), Python-only look-arounds included: the "typical
# masking" a Drain3 user starts from.
DRAIN3_MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
]

_WILDCARDS = re.compile(r"<[A-Z]+>|<\*>")
_RUNS = re.compile(r"<\*>(?:[:/.,_@-]?<\*>)+")


def format_regex(log_format: str) -> re.Pattern[str]:
    """logparser's rule: each ``<Field>`` is a lazy group, runs of spaces match any whitespace."""
    parts = re.split(r"(<[^<>]+>)", log_format)
    rx = "".join(f"(?P<{p[1:-1]}>.*?)" if i % 2 else re.sub(" +", r"\\s+", p) for i, p in enumerate(parts))
    return re.compile(f"^{rx}$")


def load_system(data: Path, system: str, variant: str = "corrected") -> tuple[list[str], pd.DataFrame]:
    folder = data / system / variant
    lines = (folder / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    truth = pd.read_csv(folder / f"{system}_2k.log_structured_corrected.csv", dtype=str, keep_default_na=False)
    if len(truth) != len(lines):
        raise SystemExit(f"{system}: {len(lines)} log lines but {len(truth)} ground-truth rows")
    return lines, truth


def local_contents(lines: list[str], log_format: str) -> list[str]:
    rx = format_regex(log_format)
    out = []
    for line in lines:
        m = rx.search(line.strip())
        out.append(m.group("Content") if m else line)  # an unmatched line is mined whole, not dropped
    return out


def ours_from_api(log_path: Path, log_format: str, rules: str | None) -> tuple[np.ndarray, list[str]] | None:
    """Run the real ``parse`` pipeline (``api.parse_logs``) when it is importable, else None."""
    try:
        from anomaly_log_detector import api
        from anomaly_log_detector.parsing import pipeline  # noqa: F401  (needs the header formats too)
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        api.parse_logs([str(log_path)], tmp, log_format=log_format, rules=rules, quiet=True)
        df = pd.read_parquet(Path(tmp) / "parsed.parquet", columns=["line_no", "template_id", "template"])
    df = df.sort_values("line_no")
    return df["template_id"].to_numpy(np.int64), df["template"].tolist()


def ours_local(contents: list[str], rules: str | None) -> tuple[np.ndarray, list[str]]:
    """The library path the pipeline takes: mask the column, learn unique messages with counts."""
    from anomaly_log_detector.parsing.masking import Masker
    from anomaly_log_detector.parsing.miner import TemplateMiner

    masked = Masker.from_file(rules).mask_array(pa.array(contents, pa.string()))
    uniques, first, inverse, counts = np.unique(np.array(masked.to_pylist(), dtype=object),
                                                return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # learn in first-occurrence order, as the pipeline does
    miner = TemplateMiner()
    ids_sorted = np.empty(len(uniques), np.int64)
    ids_sorted[order] = miner.learn(uniques[order].tolist(), counts[order].tolist())
    ids = ids_sorted[inverse.ravel()]
    templates = miner.templates()
    return ids, [templates[i] for i in ids]


def plain_drain3(contents: list[str]) -> tuple[np.ndarray, list[str]]:
    """drain3.TemplateMiner with an explicit default config (never drain3.ini) + its example masking."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in DRAIN3_MASKING]
    miner = TemplateMiner(config=cfg)
    ids = np.array([miner.add_log_message(c)["cluster_id"] for c in contents], np.int64)
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return ids, [templates[i] for i in ids]


def normalize_template(t: str) -> str:
    """Masks (``<NUM>``...) become ``<*>``, whitespace is dropped (tokenization differs between parsers,
    e.g. our ``uid= <*>`` for ``uid=<*>``), and wildcards joined by nothing or one of ``:/.,_@-``
    collapse into one (``<*>:<*>`` is ``<*>``). Applied to both sides."""
    t = "".join(_WILDCARDS.sub("<*>", t).split())
    return _RUNS.sub("<*>", t)


def scores(pred_ids: np.ndarray, pred_templates: list[str], truth: pd.DataFrame) -> dict[str, float]:
    true_ids = truth["EventId"].to_numpy()
    df = pd.DataFrame({"p": pred_ids, "t": true_ids})
    true_sizes = df.groupby("t").size()
    correct_lines, correct_groups = 0, 0
    for _, g in df.groupby("p"):
        ts = g["t"].unique()
        if len(ts) == 1 and true_sizes[ts[0]] == len(g):
            correct_lines += len(g)
            correct_groups += 1
    n_pred, n_true = df["p"].nunique(), len(true_sizes)
    pga, rga = correct_groups / n_pred, correct_groups / n_true
    fga = 2 * pga * rga / (pga + rga) if pga + rga else 0.0
    truth_norm = [normalize_template(t) for t in truth["EventTemplate"]]
    pa_hits = sum(normalize_template(p) == t for p, t in zip(pred_templates, truth_norm))
    return {"GA": round(correct_lines / len(df), 4), "FGA": round(fga, 4), "PA": round(pa_hits / len(df), 4),
            "templates": int(n_pred), "true_templates": int(n_true)}


def perturbed_chunk(contents: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` contents drawn at random with every digit redrawn, so numbers vary as in real logs."""
    rnd = random.Random(seed)
    digits = "0123456789"
    return ["".join(rnd.choice(digits) if c.isdigit() else c for c in rnd.choice(contents)) for _ in range(n)]


def masking_speed(contents: list[str], rules: str | None, n: int = CHUNK_LINES) -> dict:
    """Our vectorized masking of one chunk vs Drain3's per-line LogMasker (its example rules)."""
    from drain3.masking import LogMasker, MaskingInstruction

    from anomaly_log_detector.parsing.masking import Masker

    chunk = perturbed_chunk(contents, n)
    arr = pa.array(chunk, pa.string())
    masker = Masker.from_file(rules)
    wall, cpu = _best_of(lambda: masker.mask_array(arr), 3)
    sample = chunk[: n // 8]
    drain3 = LogMasker([MaskingInstruction(p, m) for p, m in DRAIN3_MASKING], "<", ">")
    base_wall, _ = _best_of(lambda: [drain3.mask(c) for c in sample], 1)
    ours_rate, base_rate = n / wall, len(sample) / base_wall
    return {"lines": n, "rules": len(masker.rules),
            "ours_lines_per_s": round(ours_rate), "ours_lines_per_cpu_s": round(n / cpu),
            "drain3_lines_per_s": round(base_rate), "speedup": round(ours_rate / base_rate, 1)}


def _best_of(fn, repeat: int) -> tuple[float, float]:
    """Fastest wall time and CPU time (all threads) of ``repeat`` runs after one warm-up."""
    fn()
    wall = cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu


# ---- leave one system out ----------------------------------------------------------------------------

# The candidate grid, fixed before any fold is scored. Rule-set variants are built from the packaged (or
# --rules) list by swapping one named rule, plus the previous 14-rule set as a reference.
SIM_GRID = (0.6, 0.7, 0.75, 0.78, 0.8)
DEPTH_GRID = (4, 5)
BASE_LABEL = "packaged"
# key=value: mask every value (``= <VAL>``) instead of only splitting it off as its own token.
KV_VALUES = {"pattern": "=[^ \\t\\n\\r\\f\\v=,;)\\]}<>\"']+", "mask": "= <VAL>"}
# "A token with a digit is a variable", the whole whitespace-delimited token.
WHOLE_TOKEN = {"pattern": "(^|[ \\t\\n\\r\\f\\v])[^ \\t\\n\\r\\f\\v]*[0-9][^ \\t\\n\\r\\f\\v]*", "mask": "\\1<NUM>"}
# The 14 rules shipped before the generalisation work (issue 8), verbatim.
RULES_V1 = json.loads(r"""[
  {"name": "url", "group": "paths", "pattern": "\\b[A-Za-z][A-Za-z0-9+.\\-]*://[^ \\t\\n\\r\\f\\v\\\"'<>]+", "mask": "<URL>"},
  {"name": "key-value", "group": "tokens", "pattern": "=([^ \\t\\n\\r\\f\\v=])", "mask": "= \\1"},
  {"name": "uuid", "group": "uuid", "pattern": "\\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b", "mask": "<UUID>"},
  {"name": "mac", "group": "mac", "pattern": "\\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\\b|\\b[0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5}\\b", "mask": "<MAC>"},
  {"name": "datetime", "group": "time", "pattern": "\\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\\d{1,2} +\\d{1,2}:\\d{2}:\\d{2}(?: +[A-Z]{3,4})?(?: +\\d{4})?\\b|\\b\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(?:[.,]\\d+)?(?:Z|[+-]\\d{2}:?\\d{2})?", "mask": "<DATE>"},
  {"name": "hostname", "group": "ips", "pattern": "\\b[A-Za-z0-9](?:[A-Za-z0-9\\-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9\\-]*[A-Za-z0-9])?)*\\.(?:com|net|org|edu|gov|mil|info|biz|arpa|local|localdomain|lan|internal|io|ac|ar|at|au|be|br|ca|ch|cl|cn|cz|de|dk|es|eu|fi|fr|gr|hk|hu|ie|il|in|it|jp|kr|mx|nl|no|nz|pl|pt|ro|ru|se|sg|tr|tw|ua|uk|us|vn|za)\\b([^\\w.\\-]|$)", "mask": "<HOST>\\1"},
  {"name": "ipv4", "group": "ips", "pattern": "(?:\\B/)?\\b\\d{1,3}(?:\\.\\d{1,3}){3}\\b", "mask": "<IP>"},
  {"name": "path", "group": "paths", "pattern": "\\B/[\\w.\\-@%+~]+(?:/[\\w.\\-@%+~]*)*|\\b[A-Za-z]:\\\\[^ \\t\\n\\r\\f\\v\\\"'<>|:]*", "mask": "<PATH>"},
  {"name": "pid", "group": "pid", "pattern": "(\\b(?:pid|PID|Pid)[=:]? ?|\\b[A-Za-z][\\w.\\-]*\\[)\\d+\\b", "mask": "\\1<PID>"},
  {"name": "device", "group": "device", "pattern": "\\b(?:sd[a-z]|hd[a-z]|[vx]vd[a-z])\\d*\\b|\\b(?:nvme\\d+n\\d+(?:p\\d+)?|mmcblk\\d+(?:p\\d+)?|dm-\\d+|md\\d+|loop\\d+|sr\\d+|eth\\d+|wlan\\d+|tty(?:S|USB|ACM)?\\d+)\\b|\\b\\d+:\\d+:\\d+:\\d+\\b", "mask": "<DEV>"},
  {"name": "hex", "group": "hex", "pattern": "\\b0[xX][0-9a-fA-F]+\\b|\\b(?:[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*[0-9]|[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9]|[0-9a-fA-F]*[0-9][0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]*\\b", "mask": "<HEX>"},
  {"name": "id", "group": "num", "pattern": "\\b[A-Za-z0-9_\\-]*(?:[A-Za-z_][A-Za-z0-9_\\-]*[0-9][A-Za-z0-9_\\-]*[0-9]|[0-9][A-Za-z0-9_\\-]*[A-Za-z_][A-Za-z0-9_\\-]*[0-9]|[0-9][A-Za-z0-9_\\-]*[0-9][A-Za-z0-9_\\-]*[A-Za-z_]|[A-Za-z][A-Za-z0-9_\\-]*[_\\-][0-9])[A-Za-z0-9_\\-]*\\b", "mask": "<ID>"},
  {"name": "num", "group": "num", "pattern": "(?:\\B-)?\\b\\d+(?:\\.\\d+)*\\b", "mask": "<NUM>"},
  {"name": "mask-run", "group": "tokens", "pattern": "<[A-Z]+>(?: +<[A-Z]+>)+", "mask": "<SEQ>"}
]""")


def rule_variants(rules: str | None) -> dict[str, list[dict]]:
    """Rule sets of the grid, fewest rules first: the packaged list ("packaged", or "rules-file" with
    ``--rules``), the same with the key-value rule masking values, the same with the whole-token digit
    rule, and the 14-rule v1 set. A variant whose rule is absent from the base list is left out."""
    from anomaly_log_detector.parsing.masking import DEFAULT_RULES

    base = json.loads(Path(rules or DEFAULT_RULES).read_text(encoding="utf-8"))
    names = [r["name"] for r in base]
    out = {BASE_LABEL if rules is None else "rules-file": base}
    for label, name, swap in (("kv-values", "key-value", KV_VALUES), ("whole-token", "variable", WHOLE_TOKEN)):
        if name in names:
            out[label] = [{**r, **swap} if r["name"] == name else r for r in base]
    out["v1-14-rules"] = RULES_V1
    return dict(sorted(out.items(), key=lambda kv: len(kv[1])))  # stable: fewest rules first


def candidates(variants: dict[str, list[dict]]) -> list[tuple[str, str, DrainConfig]]:
    """(id, rule variant, Drain config), in tie-break order: fewer rules, then the more merging Drain
    (shallower tree, lower sim_th). max_children and parametrize_numeric_tokens stay at their defaults
    (flat on this data: max_children 10..100 and either parametrize setting move mean GA by <= 0.0003)."""
    return [(f"{name}/depth{d}/sim{st}", name, DrainConfig(sim_th=st, depth=d))
            for name in variants for d in DEPTH_GRID for st in SIM_GRID]


def grouping_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """GA as in :func:`scores`: a line counts when its predicted group and its true group coincide."""
    p = pd.Series(pred)
    t = pd.Series(true)
    one_true = p.map(t.groupby(p).nunique()) == 1
    one_pred = t.map(p.groupby(t).nunique()) == 1
    return float((one_true & one_pred).mean())


def _masked_uniques(contents: list[str], rules: list[dict]) -> tuple[list[str], list[int], np.ndarray]:
    """Distinct masked messages in first-occurrence order, their counts, and each line's index into them."""
    from anomaly_log_detector.parsing.masking import Masker

    masked = np.array(Masker.from_list(rules).mask_array(pa.array(contents, pa.string())).to_pylist(), dtype=object)
    uniques, first, inverse, counts = np.unique(masked, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniques[order].tolist(), counts[order].tolist(), rank[inverse.ravel()]


def _mine(prepared: tuple[list[str], list[int], np.ndarray], cfg: DrainConfig) -> tuple[np.ndarray, list[str]]:
    from anomaly_log_detector.parsing.miner import TemplateMiner

    uniques, counts, line_to_unique = prepared
    miner = TemplateMiner(cfg)
    ids = miner.learn(uniques, counts)[line_to_unique]
    templates = miner.templates()
    return ids, [templates[i] for i in ids]


def loso(data: Path, systems: list[str], variant: str, rules: str | None) -> dict:
    """Leave-one-system-out selection over :func:`candidates`; see the module docstring."""
    t0 = time.perf_counter()
    variants = rule_variants(rules)
    grid = candidates(variants)
    truth: dict[str, pd.DataFrame] = {}
    prepared: dict[tuple[str, str], tuple] = {}
    for system in systems:
        lines, truth[system] = load_system(data, system, variant)
        contents = local_contents(lines, LOG_FORMATS[system])
        for name, rule_list in variants.items():
            prepared[name, system] = _masked_uniques(contents, rule_list)
    ga = {cid: {s: grouping_accuracy(_mine(prepared[name, s], cfg)[0], truth[s]["EventId"].to_numpy())
                for s in systems}
          for cid, name, cfg in grid}
    order = [cid for cid, _, _ in grid]
    rank = {cid: i for i, cid in enumerate(order)}

    def best(on: list[str]) -> str:  # max mean GA over `on`; ties go to the earlier candidate
        return max(order, key=lambda cid: (np.mean([ga[cid][s] for s in on]), -rank[cid]))

    folds = {}
    for held_out in systems:
        train = [s for s in systems if s != held_out]
        pick = best(train)
        folds[held_out] = {"picked": pick, "train_mean_GA": round(float(np.mean([ga[pick][s] for s in train])), 4),
                           "held_out_GA": round(ga[pick][held_out], 4)}
    votes = {cid: sum(f["picked"] == cid for f in folds.values()) for cid in order}
    default = max(order, key=lambda cid: (votes[cid], np.mean([ga[cid][s] for s in systems]), -rank[cid]))
    by_id = {cid: (name, cfg) for cid, name, cfg in grid}
    name, cfg = by_id[default]
    in_sample = {s: scores(*_mine(prepared[name, s], cfg), truth[s]) for s in systems}
    defaults = DrainConfig()
    base = f"{BASE_LABEL if rules is None else 'rules-file'}/depth{defaults.depth}/sim{defaults.sim_th}"
    return {
        "benchmark": "parsing_accuracy --loso", "ground_truth": f"loghub_2k {variant}",
        "grid": {"rules": {n: len(r) for n, r in variants.items()}, "depth": list(DEPTH_GRID),
                 "sim_th": list(SIM_GRID), "candidates": len(grid)},
        "folds": folds,
        "loso_mean_GA": round(float(np.mean([f["held_out_GA"] for f in folds.values()])), 4),
        "default": {"config": default, "rules": name, "drain_config": cfg.to_dict(),
                    "rule": "picked by the most folds; ties: best mean GA on all systems, then grid order",
                    "folds_picking_it": votes[default], "systems": in_sample,
                    "mean": {m: round(float(np.mean([r[m] for r in in_sample.values()])), 4)
                             for m in ("GA", "FGA", "PA")}},
        "packaged_defaults_are_this_config": default == base,
        "mean_GA_by_candidate": {cid: round(float(np.mean([ga[cid][s] for s in systems])), 4) for cid in order},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="loghub_2k folder")
    ap.add_argument("--variant", default="corrected", choices=("corrected", "loghub2"),
                    help="ground-truth revision: corrected (ICSE'22, default) or loghub2 (Loghub-2.0)")
    ap.add_argument("--systems", default=",".join(LOG_FORMATS), help="comma-separated system names")
    ap.add_argument("--rules", default=None, help="rules.json to use (default: the packaged one)")
    ap.add_argument("--no-api", dest="api", action="store_false",
                    help="mine the locally extracted contents even when the parse pipeline exists")
    ap.add_argument("--no-speed", dest="speed", action="store_false", help="skip the masking speed run")
    ap.add_argument("--loso", action="store_true",
                    help="leave-one-system-out selection over the candidate grid (instead of the default run)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder {args.data} not found", file=sys.stderr)
        return 2
    if args.loso:
        print(json.dumps(loso(args.data, args.systems.split(","), args.variant, args.rules), indent=2))
        return 0
    t0 = time.perf_counter()
    results: dict[str, dict] = {}
    all_contents: list[str] = []
    source = "local-regex"
    for system in args.systems.split(","):
        lines, truth = load_system(args.data, system, args.variant)
        contents = local_contents(lines, LOG_FORMATS[system])
        all_contents += contents
        log_path = args.data / system / args.variant / f"{system}_2k.log"
        via_api = ours_from_api(log_path, LOG_FORMATS[system], args.rules) if args.api else None
        if via_api is not None:
            source = "api.parse_logs"
        ours = via_api if via_api is not None else ours_local(contents, args.rules)
        results[system] = {"ours": scores(*ours, truth), "drain3": scores(*plain_drain3(contents), truth)}
    mean = {who: {m: round(float(np.mean([r[who][m] for r in results.values()])), 4) for m in ("GA", "FGA", "PA")}
            for who in ("ours", "drain3")}
    report = {"benchmark": "parsing_accuracy", "ground_truth": f"loghub_2k {args.variant}", "contents": source,
              "drain_config": DrainConfig().to_dict(), "systems": results, "mean": mean}
    if args.speed:
        report["masking_speed"] = masking_speed(all_contents, args.rules)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
