"""Robustness figures for issue 9: hostile logs must not stall parsing, rules must not backtrack.

Measures in one run and prints one JSON object:

* ``mining``: ``alog-detect parse`` (a subprocess, as a user runs it) on N distinct lines (default
  200k) of two kinds - ``random``: 8 random words per line; ``mixed``: real syslog lines (Loghub Linux
  and OpenSSH samples) with random words put in place of some of their words - with the default
  template cap (DrainConfig.max_clusters_per_leaf) and, as the same-run baseline, with the cap
  disabled (an empty --drain-state whose config says 0) at ``--baseline-lines`` (default 20k) and,
  with ``--uncapped-full``, at N too. Seconds, lines/s, templates, folded lines/messages.
* ``frozen``: frozen matching (``TemplateMiner.match``) of 20k lines (half learned, half new) against
  10k templates; the pre-fix linear scan (:func:`old_match`) on a sample, scaled to the same count.
* ``rules``: each rule of the packaged rules.json on adversarial lines (:data:`ADVERSARIAL`: runs of
  digits, dots, colons, hex, ``a.``, ``<``/``>``...): RE2 (what parsing uses) on 1 MB lines, and the
  Python reference ``Masker.mask`` (``re``) at growing sizes until a time budget, with the growth
  exponent and the extrapolated seconds per MB. ``proposals`` times rule rewrites that would remove
  the Python reference's catastrophic backtracking, after checking that both engines give identical
  results with them.
* ``cap_sweep`` (``--cap-sweep``): the cost per line once a leaf is full, for several caps, on the
  worst input we know (:func:`hostile_lines`): the measurement behind the default cap.
* ``fuzz`` (``--fuzz SECONDS``): a coverage-guided run (atheris, when it imports; else a long
  hypothesis run of the same target) over header parsing, masking (both engines), template mining
  and line reading; executions and findings.

Usage: ``python benchmarks/robustness.py [--lines 200000] [--baseline-lines 20000] [--uncapped-full]
[--skip-mining] [--skip-frozen] [--skip-rules] [--cap-sweep] [--fuzz SECONDS]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "loghub_2k"
sys.path.insert(0, str(REPO))

LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Repeated to build adversarial lines: what the rules look for, in runs that almost match.
ADVERSARIAL = {
    "digits": "1", "dots": ".", "colons": ":", "hex": "a1", "hex-words": "deadbeef1 ", "a.": "a.",
    "a-": "a-", "1.": "1.", "1-a": "1-a", "ab:": "ab:", "a1-": "a1-", "<>": "<>", "<A> ": "<A> ",
    "quote": '"', "/a": "/a", "a://": "a://", "=a": "=a", "spaces": "a ", "x=1": "x=1 ",
}
# The measurement behind DrainConfig.max_clusters_per_leaf's default (``--cap-sweep``, 2 shared CPUs):
# microseconds per distinct line once the leaf is full, on hostile_lines (every line a candidate of a
# large part of the leaf) and on random words; real logs: the largest leaf of each Loghub 2k system
# holds 2-24 templates.
# (5000 and none: the hostile leaf stops at 4,054 templates, the merges of its 15,625 possible lines).
CAP_MEASUREMENT = {"hostile_us_per_line": {"500": 41, "1000": 66, "2000": 109, "5000": 191, "none": 190},
                   "random_words_us_per_line": {"500": 10, "1000": 11, "2000": 10, "5000": 11, "none": 29},
                   "largest_loghub_2k_leaf": 24}


# ---- inputs -----------------------------------------------------------------------------------
def _word(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 9)))


def random_lines(n: int, seed: int = 1, words: int = 8) -> list[str]:
    """n lines of random words (letters only, so masking leaves them): every line a new message."""
    rng = random.Random(seed)
    return [" ".join(_word(rng) for _ in range(words)) for _ in range(n)]


def hostile_lines(n: int, seed: int = 3, vocab: int = 5) -> list[str]:
    """Distinct lines built to be slow: one leaf (same first words), the other words from a tiny
    vocabulary, so that each line shares a word with a large part of the leaf's templates."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(LETTERS) for _ in range(5)) for _ in range(vocab)]
    seen: dict[str, None] = {}
    while len(seen) < n and len(seen) < vocab ** 6:
        seen["user login " + " ".join(rng.choice(words) for _ in range(6))] = None
    return list(seen)


_WORD = re.compile(r"(?<![\w<])[A-Za-z]{3,}(?![\w>])")


def mixed_lines(n: int, seed: int = 2) -> list[str]:
    """Real syslog lines (Loghub Linux and OpenSSH 2k samples) with a third of the message's words
    replaced by random ones; synthetic syslog lines when ../shared/data is absent."""
    rng = random.Random(seed)
    base: list[str] = []
    for system in ("Linux", "OpenSSH"):
        path = DATA / system / "corrected" / f"{system}_2k.log"
        if path.exists():
            base += path.read_text(encoding="utf-8").splitlines()
    if not base:
        base = [f"Jan  1 00:00:{i % 60:02d} host sshd[{i}]: session opened for user root by uid {i}"
                for i in range(100)]
        base += [f"Jan  1 00:00:{i % 60:02d} host kernel: device eth{i} up" for i in range(100)]

    def noisy(line: str) -> str:
        cut = line.find(": ", 16) + 2 if ": " in line[16:] else 0
        body = _WORD.sub(lambda m: _word(rng) if rng.random() < 0.34 else m.group(0), line[cut:])
        return line[:cut] + body

    return [noisy(base[rng.randrange(len(base))]) for _ in range(n)]


# ---- mining through the CLI ---------------------------------------------------------------------
def _empty_state(path: Path, cap: int) -> None:
    from anomaly_log_detector.config import DrainConfig
    from anomaly_log_detector.parsing.miner import TemplateMiner

    TemplateMiner(DrainConfig(max_clusters_per_leaf=cap)).save(path)


def run_parse(log: Path, out: Path, state: Path | None = None, fmt: str = "auto") -> dict:
    """`alog-detect parse` in a subprocess; wall seconds and the summary's figures."""
    cmd = [sys.executable, "-m", "anomaly_log_detector", "parse", "--input", str(log), "--out-dir", str(out),
           "--format", fmt, "--quiet"]
    if state is not None:
        cmd += ["--drain-state", str(state)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"parse failed: {proc.stderr}")
    s = json.loads((out / "parse_summary.json").read_text())
    return {"lines": s["lines_read"], "seconds": round(wall, 2), "parse_seconds": s["seconds"],
            "lines_per_second": round(s["lines_read"] / wall), "templates": s["templates"],
            "folded": s["templates_folded"], "template_explosion": s["template_explosion"],
            "cap": s["drain_config"]["max_clusters_per_leaf"],
            "warning_printed": "template explosion" in proc.stderr}


def mining(work: Path, n: int, baseline_n: int, uncapped_full: bool) -> dict:
    out: dict = {}
    for kind, make, fmt in (("random", random_lines, "raw"), ("mixed", mixed_lines, "auto")):
        lines = make(n)
        log = work / f"{kind}_{n}.log"
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
        small = work / f"{kind}_{baseline_n}.log"
        small.write_text("\n".join(lines[:baseline_n]) + "\n", encoding="utf-8")
        row = {"capped": run_parse(log, work / f"out_{kind}", fmt=fmt)}
        print(f"[robustness] mining {kind} {n} capped: {row['capped']}", file=sys.stderr)
        runs = [(baseline_n, small)] + ([(n, log)] if uncapped_full else [])
        for size, path in runs:
            state = work / f"nocap_{kind}_{size}.json"
            _empty_state(state, 0)
            row[f"capped_{size}"] = run_parse(path, work / f"out_{kind}_c{size}", fmt=fmt)
            row[f"uncapped_{size}"] = run_parse(path, work / f"out_{kind}_u{size}", state, fmt=fmt)
            print(f"[robustness] mining {kind} {size}: capped {row[f'capped_{size}']}, "
                  f"uncapped {row[f'uncapped_{size}']}", file=sys.stderr)
        out[kind] = row
    return out


# ---- frozen matching --------------------------------------------------------------------------
def old_match(miner, masked: list[str]) -> list[int]:
    """The frozen matcher before issue 9 (same rule): per token count, every template sorted by
    specificity and scanned until the first full match - O(templates) per unseen message."""
    from anomaly_log_detector.parsing.miner import WILDCARD, shape, tokenize

    index: dict[int, list] = {}
    for c in miner._drain.id_to_cluster.values():
        toks = c.log_template_tokens
        literals = tuple((p, shape(t)) for p, t in enumerate(toks) if t != WILDCARD)
        index.setdefault(len(toks), []).append((c.cluster_id, literals))
    for entries in index.values():
        entries.sort(key=lambda e: (-len(e[1]), e[0]))
    out = []
    for message in masked:
        shapes = [shape(t) for t in tokenize(message)]
        found = -1
        for cid, literals in index.get(len(shapes), ()):
            if all(shapes[p] == t for p, t in literals):
                found = cid
                break
        out.append(found)
    return out


def frozen(n_templates: int, n_lines: int, old_sample: int) -> dict:
    from anomaly_log_detector.config import DrainConfig
    from anomaly_log_detector.parsing.miner import TemplateMiner

    learned = random_lines(n_templates, seed=11)
    miner = TemplateMiner(DrainConfig(max_clusters_per_leaf=0))
    miner.learn(learned)
    probes = learned[: n_lines // 2] + random_lines(n_lines - n_lines // 2, seed=12)
    random.Random(13).shuffle(probes)
    started = time.perf_counter()
    ids = miner.match(probes)
    seconds = time.perf_counter() - started
    sample = probes[:old_sample]
    started = time.perf_counter()
    old = old_match(miner, sample)
    old_seconds = time.perf_counter() - started
    assert old == ids[:old_sample].tolist(), "the index and the linear scan disagree"
    return {"templates": len(miner), "lines": n_lines, "seconds": round(seconds, 3),
            "lines_per_second": round(n_lines / seconds), "unseen": int((ids == -1).sum()),
            "old_linear_scan": {"lines": old_sample, "seconds": round(old_seconds, 2),
                                "scaled_to_lines": round(old_seconds * n_lines / old_sample, 1),
                                "same_ids": True}}


# ---- rule timing ------------------------------------------------------------------------------
def adversarial(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _re2_seconds(pattern: str, mask: str, text: str) -> float:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array([text], pa.string())
    started = time.perf_counter()
    pc.replace_substring_regex(arr, pattern, mask)
    return time.perf_counter() - started


def python_growth(rx: re.Pattern, unit: str, budget: float, max_size: int = 1 << 18) -> dict:
    """Time ``rx.sub`` on growing adversarial lines (256 chars doubling) until one takes `budget`
    seconds, the next is predicted to take 4x that, or `max_size`; the growth exponent of the last
    doubling and the seconds per MB extrapolated with it."""
    size, last, k = 256, None, 1.0
    while True:
        text = adversarial(unit, size) + "!"
        started = time.perf_counter()
        rx.sub("X", text)
        t = max(time.perf_counter() - started, 1e-7)
        if last is not None and last[1] > 1e-4:
            k = max(1.0, math.log2(t / last[1]))
        last = (size, t)
        if t >= budget or size >= max_size or t * 2 ** k >= 4 * budget:
            break
        size *= 2
    per_mb = t * (1e6 / size) ** k
    return {"size": size, "seconds": round(t, 4), "exponent": round(k, 2), "seconds_per_mb": per_mb}


def rule_timing(size: int, budget: float) -> dict:
    from anomaly_log_detector.parsing.masking import Masker

    masker = Masker.from_file()
    rows = {}
    for rule, rx in zip(masker.rules, masker._compiled):
        re2 = {u: _re2_seconds(rule.pattern, rule.mask, adversarial(s, size)) for u, s in ADVERSARIAL.items()}
        worst_re2 = max(re2, key=re2.get)
        py = {u: python_growth(rx, s, budget) for u, s in ADVERSARIAL.items()}
        worst_py = max(py, key=lambda u: py[u]["seconds_per_mb"])
        rows[rule.name] = {
            "re2_seconds_per_mb": round(re2[worst_re2] * 1e6 / size, 3), "re2_worst_input": worst_re2,
            "python_seconds_per_mb": _round(py[worst_py]["seconds_per_mb"]), "python_worst_input": worst_py,
            "python_measured": {k: v for k, v in py[worst_py].items() if k != "seconds_per_mb"},
            "python_catastrophic": py[worst_py]["exponent"] > 2.5,
        }
        print(f"[robustness] rule {rule.name}: {rows[rule.name]}", file=sys.stderr)
    import pyarrow as pa

    whole = {}
    for unit, s in ADVERSARIAL.items():
        arr = pa.array([adversarial(s, size)], pa.string())
        started = time.perf_counter()
        masker.mask_array(arr)
        whole[unit] = time.perf_counter() - started
    worst = max(whole, key=whole.get)
    return {"line_bytes": size, "python_budget_seconds": budget, "rules": rows,
            "mask_array_all_rules": {"worst_input": worst, "seconds_per_mb": round(whole[worst] * 1e6 / size, 3)},
            "proposals": proposals(budget)}


def _round(x: float) -> float:
    return float(f"{x:.3g}")


# The `hex` rule's middle part: three alternatives of three `[0-9a-fA-F]*` runs each, tried at every
# split of a long run of hex digits by Python's backtracking (cubic: 4,000 digits take minutes). The
# rewrite below accepts the same tokens (one or more hex letters and at least two digits) with one
# way to read each: a small deterministic automaton written as a regex.
HEX_OLD = ("(?:[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*[0-9]|[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F]"
           "[0-9a-fA-F]*[0-9]|[0-9a-fA-F]*[0-9][0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]*")
HEX_NEW = "(?:[a-fA-F]+[0-9][a-fA-F]*[0-9]|[0-9](?:[a-fA-F]+[0-9]|[0-9]+[a-fA-F]))[0-9a-fA-F]*"


def proposals(budget: float) -> dict:
    """Each proposed rule rewrite: identical results with both engines on random strings of the
    characters it cares about, and its Python timing on the adversarial inputs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from anomaly_log_detector.parsing.masking import DEFAULT_RULES

    rules = json.loads(DEFAULT_RULES.read_text())
    out = {}
    for rule in rules:
        if rule["name"] != "hex" or HEX_OLD not in rule["pattern"]:
            continue
        new = rule["pattern"].replace(HEX_OLD, HEX_NEW)
        old_rx, new_rx = re.compile(rule["pattern"], re.ASCII), re.compile(new, re.ASCII)
        rng = random.Random(5)
        alphabet = "0123456789abcdefABCDEFgxz .:-/@_+~\t"
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(50_000)]
        repl = re.sub(r"\\(\d)", r"\\g<\1>", rule["mask"])
        same_py = all(old_rx.sub(repl, t) == new_rx.sub(repl, t) for t in texts)
        arr = pa.array(texts, pa.string())
        same_re2 = pc.replace_substring_regex(arr, rule["pattern"], rule["mask"]).equals(
            pc.replace_substring_regex(arr, new, rule["mask"]))
        py = {u: python_growth(new_rx, s, budget) for u, s in ADVERSARIAL.items()}
        worst = max(py, key=lambda u: py[u]["seconds_per_mb"])
        re2 = max(_re2_seconds(new, rule["mask"], adversarial(s, 1 << 20)) for s in ADVERSARIAL.values())
        out[rule["name"]] = {"pattern": new, "same_results_python": same_py, "same_results_re2": same_re2,
                             "checked_strings": len(texts), "python_worst_input": worst,
                             "python_seconds_per_mb": _round(py[worst]["seconds_per_mb"]),
                             "re2_seconds_per_mb": round(re2 * 1e6 / (1 << 20), 3)}
    return out


# ---- the cap -----------------------------------------------------------------------------------
def cap_sweep(caps=(500, 1000, 2000, 5000, 0), n: int = 12_000) -> dict:
    from anomaly_log_detector.config import DrainConfig
    from anomaly_log_detector.parsing.miner import TemplateMiner

    out = {}
    for kind, lines in (("hostile", hostile_lines(n)), ("random_words", random_lines(n, seed=3))):
        row = {}
        for cap in caps:
            miner = TemplateMiner(DrainConfig(max_clusters_per_leaf=cap))
            miner.learn(lines[: n // 2])
            started = time.perf_counter()
            miner.learn(lines[n // 2:])
            seconds = time.perf_counter() - started
            row[str(cap or "none")] = {"us_per_line": round(seconds / (n - n // 2) * 1e6),
                                       "templates": len(miner), "folded": miner.folded["messages"]}
        out[kind] = row
    return out


# ---- fuzzing -----------------------------------------------------------------------------------
class _Bytes:
    """Turns fuzzer bytes into choices and text (the same for atheris and hypothesis)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def pick(self, n: int) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1] % n

    def rest(self) -> bytes:
        return self.data[self.pos:]


FINDINGS: list[dict] = []
EXECUTIONS = [0]
_STATE: dict = {}


def _setup() -> None:
    if _STATE:
        return
    from anomaly_log_detector.parsing.formats import PRESETS
    from anomaly_log_detector.parsing.masking import Masker

    _STATE.update(presets=list(PRESETS) + ["auto"], masker=Masker.from_file(),
                  tmp=tempfile.mkdtemp(prefix="alog-fuzz-"))


def _finding(kind: str, detail: str, data: bytes) -> None:
    FINDINGS.append({"kind": kind, "detail": detail[:300], "input": data[:200].hex()})


def fuzz_one(data: bytes) -> None:
    """One execution: a header format over the lines, both masking engines, mining and frozen
    matching of the masked messages; or the bytes read as a log file, a labels file or a session
    file to import (the second byte picks the import format). Property violations and
    unexpected exceptions are recorded in FINDINGS (the run goes on)."""
    import pyarrow as pa

    from anomaly_log_detector.builders.importers import FORMATS, import_sequences
    from anomaly_log_detector.config import DrainConfig
    from anomaly_log_detector.errors import AlogError
    from anomaly_log_detector.evaluation.labels import load_labels
    from anomaly_log_detector.parsing.formats import get_format
    from anomaly_log_detector.parsing.miner import WILDCARD, TemplateMiner, shape, tokenize
    from anomaly_log_detector.parsing.sources import ReadStats, read_batches

    _setup()
    EXECUTIONS[0] += 1
    src = _Bytes(data)
    what = src.pick(6)
    choice = src.pick(len(_STATE["presets"]))
    preset = _STATE["presets"][choice]
    raw = src.rest()
    try:
        if what in (4, 5):  # the bytes as a labels file, or as a session file to import
            path = os.path.join(_STATE["tmp"], "in")
            with open(path, "wb") as f:
                f.write(raw)
            if what == 4:
                load_labels(path)
            else:
                fmt = FORMATS[choice % len(FORMATS)]
                import_sequences(path, fmt, os.path.join(_STATE["tmp"], "out", "sequences.parquet"))
            return
        if what == 3:  # the bytes as a log file
            path = os.path.join(_STATE["tmp"], "log")
            with open(path, "wb") as f:
                f.write(raw)
            stats = ReadStats()
            handed = sum(len(b.raw) for b in read_batches([path], stats, chunk_lines=3, max_line_bytes=300))
            if stats.lines_read != handed + sum(stats.skipped.values()):
                _finding("sources", f"read {stats.lines_read} != {handed} + {dict(stats.skipped)}", data)
            return
        lines = raw.decode("utf-8", "replace").replace("\x00", "\ufffd").split("\n")[:20]
        head = get_format(preset).parse(pa.array(lines, pa.string()))
        content = head.content.to_pylist()
        if len(content) != len(lines) or len(head.matched) != len(lines):
            _finding("header", f"{preset}: {len(content)} values for {len(lines)} lines", data)
            return
        for line, c, ok in zip(lines, content, head.matched.to_pylist()):
            if preset == "journal-json":  # the message is a JSON field
                continue
            if not ok:
                good = c == line
            elif preset in ("apt-history", "apt-term"):  # the message is the key of `Start-Date: <time>`
                good = c is not None and c in line
            else:
                good = c is not None and line.endswith(c)
            if not good:
                _finding("header", f"{preset}: content {c!r} of line {line!r}", data)
        masker = _STATE["masker"]
        texts = [c for c in content if c is not None]
        python = [masker.mask(t) for t in texts]
        re2 = masker.mask_array(pa.array(texts, pa.string())).to_pylist()
        if python != re2:
            bad = next(i for i, (a, b) in enumerate(zip(python, re2)) if a != b)
            _finding("masking", f"{texts[bad]!r}: python {python[bad]!r} re2 {re2[bad]!r}", data)
        if what >= 1:
            miner = TemplateMiner(DrainConfig(max_clusters_per_leaf=3 if what == 2 else 0))
            ids = miner.learn(re2)
            templates = miner.templates()
            for m, cid, got in zip(re2, ids.tolist(), miner.match(re2).tolist()):
                matched = templates.get(got)
                toks = matched.split(" ") if matched else []
                shapes = [shape(t) for t in tokenize(m)]
                if matched is None or len(toks) != len(shapes) or not all(
                        t == WILDCARD or shape(t) == sh for t, sh in zip(toks, shapes)):
                    _finding("mining", f"{m!r}: own template {templates[cid]!r}, matched {matched!r}", data)
    except AlogError:
        pass
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
        _finding("exception", f"{type(exc).__name__}: {exc}", data)


def _atheris_worker(out_dir: str, seconds: int) -> None:
    import atheris

    import numpy, pandas, pyarrow.compute, pyarrow.json, pyarrow.parquet, drain3.drain  # noqa: E401,F401 - not instrumented
    with atheris.instrument_imports(include=["anomaly_log_detector"]):
        import anomaly_log_detector.parsing.formats  # noqa: F401
        import anomaly_log_detector.parsing.masking  # noqa: F401
        import anomaly_log_detector.parsing.miner  # noqa: F401
        import anomaly_log_detector.parsing.sources  # noqa: F401
        import anomaly_log_detector.builders.importers  # noqa: F401
        import anomaly_log_detector.evaluation.labels  # noqa: F401
    import atexit

    def report() -> None:
        Path(out_dir, "result.json").write_text(json.dumps({"executions": EXECUTIONS[0], "findings": FINDINGS}))

    atexit.register(report)

    def target(data: bytes) -> None:
        fuzz_one(data)
        if EXECUTIONS[0] % 2000 == 0:
            report()

    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={out_dir}/",
                   "-rss_limit_mb=4096", "-max_len=4096"], target)
    atheris.Fuzz()


def fuzz(seconds: int, engine: str = "auto") -> dict:
    if engine == "hypothesis":
        return _hypothesis_fuzz(seconds, "--fuzz-engine hypothesis")
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        return _hypothesis_fuzz(seconds, f"atheris not importable ({exc})")
    with tempfile.TemporaryDirectory(prefix="alog-atheris-") as out_dir:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--atheris-worker", out_dir, str(seconds)],
                              capture_output=True, text=True, timeout=seconds + 300)
        wall = time.perf_counter() - started
        done = re.search(r"Done (\d+) runs", proc.stderr)
        cov = re.findall(r"cov: (\d+) ft: (\d+)", proc.stderr)
        result_file = Path(out_dir, "result.json")
        result = (json.loads(result_file.read_text()) if result_file.exists()
                  else {"executions": None, "findings": []})
        crashes = sorted(p.name for p in Path(out_dir).iterdir()
                         if p.name.startswith(("crash-", "timeout-", "oom-")))
    findings = result["findings"]
    return {"engine": "atheris (libFuzzer, coverage-guided)", "seconds": round(wall, 1),
            "executions": int(done.group(1)) if done else result["executions"],
            "coverage": {"edges": int(cov[-1][0]), "features": int(cov[-1][1])} if cov else None,
            "findings": len(findings), "finding_kinds": _kinds(findings), "examples": findings[:5],
            "crashes": crashes, "exit_code": proc.returncode}


def _hypothesis_fuzz(seconds: int, why: str) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=2048))
    def run(data: bytes) -> None:
        fuzz_one(data)

    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        run()
    return {"engine": "hypothesis (the same target on random bytes)", "why": why,
            "seconds": round(time.perf_counter() - started, 1), "executions": EXECUTIONS[0],
            "findings": len(FINDINGS), "finding_kinds": _kinds(FINDINGS), "examples": FINDINGS[:5]}


def _kinds(findings: list[dict]) -> dict:
    kinds: dict[str, int] = {}
    for f in findings:
        key = f"{f['kind']}: {f['detail'].split(':')[0][:60]}"
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


# ---- main --------------------------------------------------------------------------------------
def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--atheris-worker":
        _atheris_worker(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000, help="distinct lines per mining run")
    ap.add_argument("--baseline-lines", type=int, default=20_000, help="size of the capped/uncapped comparison")
    ap.add_argument("--uncapped-full", action="store_true", help="also mine --lines lines with the cap disabled")
    ap.add_argument("--frozen-templates", type=int, default=10_000)
    ap.add_argument("--frozen-lines", type=int, default=20_000)
    ap.add_argument("--old-sample", type=int, default=2_000, help="lines given to the pre-fix matcher")
    ap.add_argument("--rule-bytes", type=int, default=1 << 20, help="adversarial line length for RE2")
    ap.add_argument("--python-budget", type=float, default=1.0, help="seconds per Python measurement")
    ap.add_argument("--skip-mining", action="store_true")
    ap.add_argument("--skip-frozen", action="store_true")
    ap.add_argument("--skip-rules", action="store_true")
    ap.add_argument("--cap-sweep", action="store_true")
    ap.add_argument("--fuzz", type=int, default=0, metavar="SECONDS", help="only fuzz, this long")
    ap.add_argument("--fuzz-engine", choices=("auto", "hypothesis"), default="auto",
                    help="auto: atheris when it imports, else hypothesis")
    ap.add_argument("--work-dir", default=None, help="keep generated files here (default: a temp dir)")
    args = ap.parse_args()

    from anomaly_log_detector.config import DrainConfig

    result: dict = {"cap": DrainConfig().max_clusters_per_leaf, "cpus": os.cpu_count()}
    if args.fuzz:
        result["fuzz"] = fuzz(args.fuzz, args.fuzz_engine)
        print(json.dumps(result, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="alog-robust-") as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_mining:
            result["mining"] = mining(work, args.lines, args.baseline_lines, args.uncapped_full)
        if not args.skip_frozen:
            result["frozen"] = frozen(args.frozen_templates, args.frozen_lines, args.old_sample)
            print(f"[robustness] frozen: {result['frozen']}", file=sys.stderr)
        if not args.skip_rules:
            result["rules"] = rule_timing(args.rule_bytes, args.python_budget)
        if args.cap_sweep:
            result["cap_sweep"] = cap_sweep()
        else:
            result["cap_measurement"] = CAP_MEASUREMENT
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
