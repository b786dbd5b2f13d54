#!/usr/bin/env python3
"""Rewrite a vocabulary keyed by Drain template ids ("1", "2", ...) as one keyed by template strings.

Usage:
    python scripts/fix_vocab_format.py --parsed P --old-vocab V --output V2

`P` is the `parsed.parquet` the vocabulary was built from (its `template_id` -> `template` columns give
each id its template string). Every index is kept, so a model trained on `V` stays valid with `V2`;
only the keys change. `V2` has the layout of `V` (an alog-detect `vocab.json`, or the original
toolkit's plain `{key: index}` map). Ids missing from `P`, two ids with the same template, and a
vocabulary that is already keyed by strings are refused with one line on stderr (exit status 2).

This is the fix `alog-detect convert-onnx` names when it refuses an id-keyed vocabulary: the C engine
matches log lines against template strings, so a vocabulary without them matches nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parsed", required=True, help="parsed.parquet with template_id and template columns")
    parser.add_argument("--old-vocab", required=True, help="vocab.json keyed by Drain template ids")
    parser.add_argument("--output", required=True, help="vocab.json to write, keyed by template strings")
    args = parser.parse_args(argv)

    from anomaly_log_detector.errors import AlogError
    from anomaly_log_detector.fileio.jsonio import write_json_atomic
    from anomaly_log_detector.onnx_export.vocab_c import fix_vocab

    try:
        if Path(args.output).resolve() == Path(args.old_vocab).resolve():
            raise AlogError("--output must differ from --old-vocab (keep the old file until the new one is checked)")
        fixed, count = fix_vocab(args.parsed, args.old_vocab)
        write_json_atomic(args.output, fixed, indent=1)
    except AlogError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"Error: {args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"rewrote {count:,} template ids as template strings (indices unchanged): {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
