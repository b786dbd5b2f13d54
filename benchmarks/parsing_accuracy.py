"""Parsing accuracy on the Loghub 2k samples: our masking + miner next to plain Drain3, one default config.

Usage: ``.venv/bin/python benchmarks/parsing_accuracy.py [--data DIR] [--variant corrected|loghub2]
[--systems A,B] [--rules FILE] [--no-api] [--no-speed]``

Ground truth: ``loghub_2k/<Sys>/<variant>/<Sys>_2k.log_structured_corrected.csv`` (corrected: Khan et al.,
ICSE'22; loghub2: Loghub-2.0). Also times the masking of one perturbed 64k-line chunk against Drain3's.
Metrics (per system, then the mean over systems), see docs/parsing-accuracy.md:

* GA  grouping accuracy: share of lines whose predicted group has exactly the lines of their true group.
* FGA F1 of PGA (correct groups / predicted groups) and RGA (correct groups / true groups).
* PA  parsing accuracy: share of lines whose template equals the true one after normalization.

Contents come from ``anomaly_log_detector.api.parse_logs`` (the real ``parse`` pipeline) when it exists,
else from a local regex built from the Loghub format string (the logparser benchmark's rule).
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

from anomaly_log_detector.config import CHUNK_LINES

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "loghub_2k"

# The logparser benchmark's header formats (Zhu et al., ICSE'19), the only per-system input.
LOG_FORMATS = {
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
}

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
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder {args.data} not found", file=sys.stderr)
        return 2
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
    from anomaly_log_detector.config import DrainConfig

    report = {"benchmark": "parsing_accuracy", "ground_truth": f"loghub_2k {args.variant}", "contents": source,
              "drain_config": DrainConfig().to_dict(), "systems": results, "mean": mean}
    if args.speed:
        report["masking_speed"] = masking_speed(all_contents, args.rules)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
