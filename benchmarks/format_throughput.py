"""Header-split throughput: presets and `--log-format` strings vs logparser's Python `re` loop.

One 64k-line chunk built from each Loghub 2k log; best of 5; prints JSON with lines/s and ratios.
Usage (from the repository root): .venv/bin/python benchmarks/format_throughput.py
"""
import json, re, time
from pathlib import Path
import pyarrow as pa
from anomaly_log_detector.parsing.formats import get_format

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "loghub_2k"
CASES = [("Linux", "syslog", r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>"),
         ("HDFS", "hdfs", r"<Date> <Time> <Pid> <Level> <Component>: <Content>"),
         ("BGL", "bgl", r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"),
         ("Hadoop", "hadoop", r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>"),
         ("Apache", "apache", r"\[<Time>\] \[<Level>\] <Content>")]

def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)

out = {}
for system, preset, log_format in CASES:
    lines = (DATA / system / "corrected" / f"{system}_2k.log").read_text().splitlines()
    chunk = (lines * 33)[:65536]
    array = pa.array(chunk)
    parts = re.split(r"(<[^<>]+>)", log_format)  # logparser's generate_logformat_regex
    regex = re.compile("^" + "".join(f"(?P<{p[1:-1]}>.*?)" if i % 2 else re.sub(" +", r"\\s+", p)
                                     for i, p in enumerate(parts)) + "$")
    assert all(regex.search(l.strip()) for l in chunk), system  # the reference really splits
    ref = best(lambda: [m.groupdict() if (m := regex.search(l.strip())) else None for l in chunk])
    row = {"python_re_lines_per_s": round(len(chunk) / ref)}
    for name, fmt in (("preset", get_format(preset)), ("log_format", get_format(log_format=log_format))):
        t = best(lambda: fmt.parse(array))
        row[f"{name}_lines_per_s"], row[f"{name}_ratio"] = round(len(chunk) / t), round(ref / t, 1)
    out[f"{system}/{preset}"] = row
print(json.dumps(out, indent=1))
