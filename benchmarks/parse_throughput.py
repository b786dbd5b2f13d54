"""Parse throughput: our columnar parser vs a plain Drain3 per-line loop, on the same data, same run.

Builds log files by perturbing the numbers of real Loghub lines (BGL, HDFS, Linux from ../shared/data),
then measures in one process:

* ours: ``alog-detect parse`` (library call) with the system's header format;
* ``drain3_default`` (:func:`run_drain3_default`): what a Drain3 user runs - logparser's header regex,
  ``drain3.TemplateMiner`` with its default settings and its example masking instructions, one
  ``add_log_message`` per line. The speed target (10x with ``--format auto``, 5x with ``--log-format``)
  is against this loop;
* two per-line reference loops (see :func:`run_reference`): the same header regex in Python, Python ``re``
  masking of the same rules.json patterns, and ``drain3.TemplateMiner.add_log_message`` per line, once
  with our Drain variant (``loop_ours``: same algorithm, so agreement measures the fast path) and once with
  Drain3's own Drain and the same settings (``loop_drain3``).

Ours runs twice per file: with the header format detected (``--format auto``, the default) and with the
logparser ``--log-format`` string.

Prints JSON: lines/s of each, the ratios (of wall time; ``cpu_ratio_*``: of CPU seconds, which other
jobs on the machine do not change), the grouping agreement of ours against each reference (grouping
accuracy with the reference clusters as ground truth), and peak RSS of ours for N and 4N lines (each in a
fresh subprocess). With ``--stages``, the CPU seconds of each stage of ours (read, header, masking, Drain
and table, Parquet) on one thread. Usage: ``python benchmarks/parse_throughput.py [--lines 1000000]
[--skip-rss] [--skip-loops] [--stages]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "loghub_2k"
sys.path.insert(0, str(REPO))

# (system, our preset, logparser header format used by the reference)
SYSTEMS = [
    ("BGL", "bgl", r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"),
    ("HDFS", "hdfs", r"<Date> <Time> <Pid> <Level> <Component>: <Content>"),
    ("Linux", None, r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>"),
]
# What varies between real occurrences of a message: decimal numbers, 0x-hex values and bare hex words.
_VARIABLE = re.compile(r"\b(0[xX])([0-9a-fA-F]+)\b|\b((?=[0-9a-f]*[a-f])[0-9a-f]{8,16})\b|\b(\d+)\b")
_HEX = "0123456789abcdef"


def perturbed_lines(system: str, n: int, seed: int) -> list[str]:
    """n lines drawn from the system's 2k real lines, with every number and hex value of the message
    (not the header) replaced by a random one of the same length and kind: what differs between real
    occurrences of a message."""
    base = (DATA / system / "corrected" / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    head = header_regex(next(fmt for name, _, fmt in SYSTEMS if name == system))
    rng = random.Random(seed)

    def hexits(k: int) -> str:
        return "".join(rng.choice(_HEX) for _ in range(k))

    def vary(m: re.Match) -> str:
        if m.group(1):
            return m.group(1) + hexits(len(m.group(2)))
        if m.group(3):
            return hexits(len(m.group(3)))
        k = len(m.group(4))
        return str(rng.randrange(10 ** (k - 1), 10 ** k)) if k > 1 else str(rng.randrange(10))

    out = []
    for _ in range(n):
        line = base[rng.randrange(len(base))]
        m = head.match(line)
        cut = m.start("Content") if m else 0
        out.append(line[:cut] + _VARIABLE.sub(vary, line[cut:]))
    return out


def write_inputs(folder: Path, per_system: int, seed: int, systems: list[str]) -> list[tuple[str, str | None, str, Path]]:
    out = []
    for i, (system, preset, fmt) in enumerate(SYSTEMS):
        if system not in systems:
            continue
        path = folder / f"{system}_{per_system}.log"
        if not path.exists():
            path.write_text("\n".join(perturbed_lines(system, per_system, seed + i)) + "\n", encoding="utf-8")
        out.append((system, preset, fmt, path))
    return out


def header_regex(fmt: str) -> re.Pattern:
    """logparser's conversion of a format string into a regex (the reference's header split)."""
    parts = re.split(r"(<[^<>]+>)", fmt)
    regex = ""
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.sub(" +", r"\\s+", part)
        else:
            name = part.strip("<>")
            regex += f"(?P<{name}>.*?)"
    return re.compile("^" + regex + "$")


def run_reference(path: Path, fmt: str, algorithm: str) -> tuple[list[int], float]:
    """The per-line way: Python regex header split, Python ``re`` masking with the same rules
    (``Masker.mask``), and one ``drain3.TemplateMiner.add_log_message`` call per line.

    ``algorithm="ours"`` swaps in our Drain subclass with our settings, so only the execution strategy
    differs from our parser (agreement should be 1.0); ``"drain3"`` keeps Drain3's own Drain with the
    same settings, so the agreement also shows how much our method changes the grouping."""
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.template_miner_config import TemplateMinerConfig

    from anomaly_log_detector.config import DrainConfig
    from anomaly_log_detector.parsing.masking import Masker
    from anomaly_log_detector.parsing.miner import TemplateMiner

    ours = DrainConfig()
    cfg = TemplateMinerConfig()  # explicit config: never read drain3.ini
    cfg.profiling_enabled = False
    cfg.drain_sim_th, cfg.drain_depth, cfg.drain_max_children = ours.sim_th, ours.depth, ours.max_children
    cfg.parametrize_numeric_tokens = ours.parametrize_numeric_tokens
    miner = Drain3Miner(config=cfg)
    if algorithm == "ours":
        miner.drain = TemplateMiner(ours)._drain
    masker = Masker.from_file()
    return _line_loop(path, fmt, lambda content: miner.add_log_message(masker.mask(content))["cluster_id"])


def _line_loop(path: Path, fmt: str, cluster_of) -> tuple[list[int], float]:
    """The per-line reference loop: logparser's header regex, then `cluster_of(content)` per line;
    (cluster ids, seconds)."""
    head = header_regex(fmt)
    ids = []
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = head.match(line)
            ids.append(cluster_of(m.group("Content") if m else line))
    _CPU[0] = time.process_time() - cpu
    return ids, time.perf_counter() - start


# CPU seconds (all threads of this process) of the last timed run: load-independent, unlike wall time.
_CPU = [0.0]


def run_drain3_default(path: Path, fmt: str) -> tuple[list[int], float]:
    """A plain Drain3 user's loop: logparser's header regex, ``drain3.TemplateMiner`` with its default
    Drain settings and its example masking instructions (``parsing_accuracy.DRAIN3_MASKING``, applied by
    Drain3 itself), one
    ``add_log_message`` per line."""
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig
    from parsing_accuracy import DRAIN3_MASKING  # benchmarks/ is on sys.path (the script's folder)

    cfg = TemplateMinerConfig()  # explicit config: never read drain3.ini
    cfg.profiling_enabled = False
    cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in DRAIN3_MASKING]
    miner = Drain3Miner(config=cfg)
    return _line_loop(path, fmt, lambda content: miner.add_log_message(content)["cluster_id"])


def run_ours(path: Path, fmt: str | None, out_dir: Path) -> tuple[list[int], float, dict]:
    """``alog-detect parse`` as a library call: ``fmt=None`` detects the header format (``--format
    auto``), else the ``--log-format`` string."""
    import pyarrow.parquet as pq

    import anomaly_log_detector.parsing.pipeline  # noqa: F401 - imports outside the timing, as for the loops
    from anomaly_log_detector.api import parse_logs

    start, cpu = time.perf_counter(), time.process_time()
    kwargs = {"log_format": fmt} if fmt else {}
    summary = parse_logs(str(path), str(out_dir), **kwargs)
    seconds = time.perf_counter() - start
    _CPU[0] = time.process_time() - cpu
    ids = pq.read_table(out_dir / "parsed.parquet", columns=["template_id"]).column(0).to_pylist()
    return ids, seconds, summary


def stage_seconds(path: Path, fmt: str | None) -> dict[str, float]:
    """CPU seconds of each stage of our parser over `path` (``fmt=None``: ``--format auto``), all on
    one thread (masking's own threads off): where the time goes, whatever the parallelism."""
    from collections import Counter

    from anomaly_log_detector.config import ParseConfig
    from anomaly_log_detector.parsing import masking
    from anomaly_log_detector.parsing.output import ParsedWriter
    from anomaly_log_detector.parsing.pipeline import ParsePipeline
    from anomaly_log_detector.parsing.sources import read_batches

    clock, spent = time.process_time, Counter()

    def timed(key, f):
        def run(*args, **kwargs):
            start = clock()
            try:
                return f(*args, **kwargs)
            finally:
                spent[key] += clock() - start
        return run

    out = Path(tempfile.mkdtemp(prefix="alog_stages_"))
    pipe = ParsePipeline(ParseConfig(out_dir=str(out), **({"log_format": fmt} if fmt else {})))
    threads, masking._THREADS = masking._THREADS, 1
    try:
        pipe.masker.mask_array = timed("masking", pipe.masker.mask_array)
        writer = ParsedWriter(str(out / "parsed.parquet"))
        batches = read_batches([str(path)], pipe.stats, pipe.config.chunk_lines, pipe.config.max_line_bytes)
        next_batch = timed("read", lambda: next(batches, None))
        form = None
        while (batch := next_batch()) is not None:
            if form is None:
                form = pipe._source_format(batch)
                form.parse = timed("header", form.parse)
            prepared = timed("prepare_other", pipe._prepare)(batch, form)
            chunk = timed("drain_and_table", pipe._finish)(prepared)
            timed("parquet", writer.write)(chunk.table)
        timed("parquet", pipe._finalize)(writer, str(out / "parsed.parquet"))
    finally:
        masking._THREADS = threads
    spent["prepare_other"] -= spent["header"] + spent["masking"]
    return {k: round(v, 2) for k, v in spent.items()} | {"total": round(sum(spent.values()), 2)}


def grouping_agreement(ours: list[int], ref: list[int]) -> float:
    """Grouping accuracy of `ours` with `ref` as ground truth: the share of lines whose cluster holds
    exactly the same lines in both."""
    import pandas as pd

    df = pd.DataFrame({"o": ours, "r": ref})
    pairs = df.groupby(["o", "r"]).size().rename("n").reset_index()
    o_size, r_size = df.groupby("o").size(), df.groupby("r").size()
    good = pairs[(pairs.n.values == o_size.loc[pairs.o].values) & (pairs.n.values == r_size.loc[pairs.r].values)]
    return float(good.n.sum() / len(df))


def peak_rss_mb(lines: int, folder: Path, seed: int) -> float:
    """Peak RSS of a fresh process that parses `lines` lines (BGL-style file) with our parser."""
    path = folder / f"rss_{lines}.log"
    if not path.exists():
        with open(path, "w", encoding="utf-8") as f:
            step = 250_000
            for k in range(0, lines, step):
                f.write("\n".join(perturbed_lines("BGL", min(step, lines - k), seed + k)) + "\n")
    code = ("import resource,sys; sys.path.insert(0, %r); from anomaly_log_detector.api import parse_logs; "
            "parse_logs(%r, %r, format='bgl'); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            % (str(REPO), str(path), str(folder / f"rss_out_{lines}")))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per system")
    ap.add_argument("--systems", default="BGL,HDFS", help="comma-separated, from: BGL, HDFS, Linux")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-loops", action="store_true",
                    help="only the Drain3-default reference, not the two rules.json loops (slow)")
    ap.add_argument("--work-dir", default=None, help="keep generated files here (default: a temp dir)")
    ap.add_argument("--stages", action="store_true",
                    help="also the CPU seconds of each stage of ours, on one thread (stage_seconds)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"needs {DATA} (the shared Loghub data)")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="alog_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"lines": 0, "systems": {}, "load_avg_start": os.getloadavg()}
    refs = ["drain3_default"] + ([] if args.skip_loops else ["loop_ours", "loop_drain3"])
    totals = dict.fromkeys(["ours_auto", "ours_log_format", *refs], 0.0)
    agree = dict.fromkeys(refs, 0.0)
    cpu_totals = dict.fromkeys(totals, 0.0)
    for system, preset, fmt, path in write_inputs(work, args.lines, args.seed, args.systems.split(",")):
        ours, s_auto, summary = run_ours(path, None, work / f"out_{system}_auto")
        cpu_auto = _CPU[0]
        ours_lf, s_lf, _ = run_ours(path, fmt, work / f"out_{system}_lf")
        cpu_lf = _CPU[0]
        n = len(ours)
        row = {"lines": n, "format_detected": summary["format"], "templates_ours": summary["templates"],
               "ours_auto_s": round(s_auto, 2), "ours_log_format_s": round(s_lf, 2),
               "ours_auto_cpu_s": round(cpu_auto, 2), "ours_log_format_cpu_s": round(cpu_lf, 2),
               "agreement_auto_vs_log_format": round(grouping_agreement(ours, ours_lf), 4)}
        totals["ours_auto"] += s_auto
        totals["ours_log_format"] += s_lf
        cpu_totals["ours_auto"] += cpu_auto
        cpu_totals["ours_log_format"] += cpu_lf
        for key in refs:
            if key == "drain3_default":
                ref, s_ref = run_drain3_default(path, fmt)
            else:
                ref, s_ref = run_reference(path, fmt, key.removeprefix("loop_"))
            a = grouping_agreement(ours, ref)
            row[f"{key}_s"] = round(s_ref, 2)
            row[f"{key}_cpu_s"] = round(_CPU[0], 2)
            cpu_totals[key] += _CPU[0]
            row[f"ratio_auto_vs_{key}"] = round(s_ref / s_auto, 2)
            row[f"ratio_log_format_vs_{key}"] = round(s_ref / s_lf, 2)
            row[f"agreement_vs_{key}"] = round(a, 4)
            row[f"templates_{key}"] = len(set(ref))
            totals[key] += s_ref
            agree[key] += a * n
        if args.stages:
            row["stages_cpu_s"] = {"auto": stage_seconds(path, None), "log_format": stage_seconds(path, fmt)}
        result["systems"][system] = row
        result["lines"] += n
        print(f"[parse_throughput] {system}: {json.dumps(row)}", file=sys.stderr)
    n = result["lines"]
    for key, seconds in totals.items():
        result[f"{key}_lines_per_s"] = round(n / seconds)
    for key in refs:
        result[f"ratio_auto_vs_{key}"] = round(totals[key] / totals["ours_auto"], 2)
        result[f"ratio_log_format_vs_{key}"] = round(totals[key] / totals["ours_log_format"], 2)
        result[f"agreement_vs_{key}"] = round(agree[key] / n, 4)
        # The same ratios in CPU seconds: the work each needs, whatever else runs on the machine.
        result[f"cpu_ratio_auto_vs_{key}"] = round(cpu_totals[key] / cpu_totals["ours_auto"], 2)
        result[f"cpu_ratio_log_format_vs_{key}"] = round(cpu_totals[key] / cpu_totals["ours_log_format"], 2)
    result["peak_rss_mb_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if not args.skip_rss:
        rss_n = peak_rss_mb(args.lines, work, args.seed)
        rss_4n = peak_rss_mb(4 * args.lines, work, args.seed)
        result["peak_rss_mb"] = {f"{args.lines}": round(rss_n, 1), f"{4 * args.lines}": round(rss_4n, 1),
                                 "ratio_4x_over_1x": round(rss_4n / rss_n, 3)}
    result["targets"] = {"ratio_auto_vs_drain3_default_min": 10, "ratio_log_format_vs_drain3_default_min": 5,
                         "agreement_vs_loop_ours_min": 0.99, "rss_ratio_max": 1.3}
    result["cpu_count"] = os.cpu_count()
    result["load_avg"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
