"""Are two `infer` output folders the same? Prints one JSON object; exit 1 when they differ.

    .venv/bin/python scripts/compare_outputs.py A B

For checking that a change leaves every output as it was (docs/performance.md, "Outputs unchanged"):
run `infer` with both code versions into the *same* output path one after the other, copy the folder
after each run, and compare the copies. Every file of the two folders is compared: Parquet tables
with ``pyarrow.Table.equals`` (schema and values; schema metadata reported when it differs), other
binary files byte for byte, text files (JSON, JSONL, Markdown, HTML, SVG) with the run's own values
blanked: stage durations and rates, the temporary bundle folder, the staging folder name, and
timestamps of the run (generation times).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq

BLANK = [(re.compile(r'"(seconds|lines_per_second|total|load|parse|detect|report)": [0-9.eE+-]+'), r'"\1": X'),
         (re.compile(r"/tmp/alog-model-[A-Za-z0-9_]+"), "/tmp/alog-model-X"),
         (re.compile(r"\.alog-staging-[A-Za-z0-9_]+"), ".alog-staging-X"),
         (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?"), "TIME")]
BINARY = {".npz", ".png"}


def _blank(text: str) -> str:
    for pattern, repl in BLANK:
        text = pattern.sub(repl, text)
    return text


def same_file(x: Path, y: Path) -> tuple[bool, str]:
    """(equal, note) for two files of the same relative path."""
    if x.suffix == ".parquet":
        a, b = pq.read_table(x), pq.read_table(y)
        equal = a.equals(b)
        return equal, "" if not equal or a.schema.equals(b.schema, check_metadata=True) else "schema metadata differs"
    if x.suffix in BINARY:
        return x.read_bytes() == y.read_bytes(), ""
    return _blank(x.read_text(errors="replace")) == _blank(y.read_text(errors="replace")), ""


def compare(a: Path, b: Path) -> dict:
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    different, notes = [], {}
    for rel in sorted(files_a & files_b):
        equal, note = same_file(a / rel, b / rel)
        if not equal:
            different.append(str(rel))
        if note:
            notes[str(rel)] = note
    return {"files": len(files_a | files_b), "identical": len(files_a & files_b) - len(different),
            "different": different, "only_in_a": sorted(map(str, files_a - files_b)),
            "only_in_b": sorted(map(str, files_b - files_a)), "notes": notes}


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.splitlines()[2].strip())
    result = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["identical"] == result["files"] else 1)


if __name__ == "__main__":
    main()
