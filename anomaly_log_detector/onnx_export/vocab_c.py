"""The C engine's vocabulary, and the check (and fix) for a vocabulary keyed by Drain template ids.

``vocab_c.json`` maps every model index, as a decimal string, to its template string, in index order::

    {"0": "<PAD>", "1": "<UNK>", "2": "<EOS>", "3": "<first template>", ...}

It is :meth:`Vocab.strings` written out: the same indices the Python model uses (templates sorted by
string when the vocabulary was built, appended templates after them), so an engine that reads the
keys as integers assigns every template the index the network was trained with. Indices 0-2 are the
reserved names; a matched line never gets them.

The original toolkit's known failure mode was a training vocabulary keyed by Drain *template ids*
("1", "2", ...) instead of template strings: the engine then holds no template text and every line is
unknown. :func:`read_training_vocab` refuses such a file and names the fix, :func:`fix_vocab`
(``scripts/fix_vocab_format.py``), which rewrites the keys as the template strings of a
``parsed.parquet`` and keeps every index.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from anomaly_log_detector.builders.vocab import FORMAT as VOCAB_FORMAT
from anomaly_log_detector.builders.vocab import SPECIAL, Vocab
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.jsonio import loads_checked

FIX_SCRIPT = "scripts/fix_vocab_format.py"
_ID = re.compile(r"-?[0-9]+")
# How many offending keys an error message lists.
_SHOWN = 5


def fix_hint(path: str | os.PathLike) -> str:
    return (f"rewrite it with `python {FIX_SCRIPT} --parsed <parsed.parquet> --old-vocab {path} "
            f"--output <fixed vocab.json>` (keeps every index), or rebuild it with `build-deeplog`")


def looks_id_keyed(keys: list[str]) -> bool:
    """Every key is a bare integer (a Drain cluster id such as "17"), i.e. no key holds template text."""
    return bool(keys) and all(isinstance(k, str) and _ID.fullmatch(k.strip()) for k in keys)


def read_training_vocab(path: str | os.PathLike, data: bytes | None = None) -> Vocab:
    """The training ``vocab.json`` at ``path`` (or its bytes ``data``). DataError, naming the fix, for a
    vocabulary keyed by template ids; DataError for the C engine's ``{index: template}`` file or any
    file that is not a vocabulary."""
    from anomaly_log_detector.fileio.jsonio import read_json

    if data is None:
        doc = read_json(path, "the vocab file", DataError)
    else:
        try:
            doc = loads_checked(data)
        except ValueError as exc:
            raise DataError(f"{path}: cannot read the vocab file: {exc}") from None
    if isinstance(doc, dict) and doc.get("format") == VOCAB_FORMAT:
        templates = doc.get("templates")
        if isinstance(templates, dict) and looks_id_keyed(list(templates)):
            raise DataError(f"{path}: the vocabulary is keyed by Drain template ids ({_sample(templates)}), "
                            f"not by template strings, so the C engine could match no line; {fix_hint(path)}")
        return Vocab.from_dict(doc, str(path))
    if isinstance(doc, dict) and doc and all(type(v) is int for v in doc.values()):
        if looks_id_keyed(list(doc)):  # the original toolkit's {"1": 0, "2": 1} mistake
            raise DataError(f"{path}: the vocabulary is keyed by Drain template ids ({_sample(doc)}), not by "
                            f"template strings; {fix_hint(path)}")
        raise DataError(f"{path}: a plain {{template: index}} map, not an alog-detect vocab.json (format "
                        f"{VOCAB_FORMAT!r}); rebuild it with `build-deeplog` or `train`")
    if isinstance(doc, dict) and doc and looks_id_keyed(list(doc)) and all(isinstance(v, str) for v in doc.values()):
        raise DataError(f"{path}: this is a C engine vocabulary ({{index: template}}); pass the training "
                        f"vocab.json the model was built with")
    raise DataError(f"{path}: not an alog-detect vocab file (missing format {VOCAB_FORMAT!r})")


def _sample(d: dict) -> str:
    keys = list(d)[:_SHOWN]
    more = ", ..." if len(d) > _SHOWN else ""
    return "keys " + ", ".join(repr(k) for k in keys) + more


# ---- vocab_c.json ---------------------------------------------------------------------------------
def c_vocab(vocab: Vocab) -> dict[str, str]:
    """``{"<index>": "<template string>"}`` for every index of ``vocab``, in index order."""
    return {str(i): s for i, s in enumerate(vocab.strings())}


def c_vocab_bytes(vocab: Vocab) -> bytes:
    """``vocab_c.json``'s bytes: UTF-8 JSON, one entry a line, keys in numeric order (not sorted as
    strings, which would put "10" before "2")."""
    return (json.dumps(c_vocab(vocab), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def read_c_vocab(data: bytes, where: str) -> list[str]:
    """Index -> template string from ``vocab_c.json`` bytes; DataError unless the keys are exactly
    "0".."n-1", the values strings and indices 0-2 the reserved names."""
    try:
        doc = loads_checked(data)
    except ValueError as exc:
        raise DataError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise DataError(f"{where}: must map indices to template strings")
    if sorted(doc, key=lambda k: (len(k), k)) != [str(i) for i in range(len(doc))]:
        raise DataError(f"{where}: keys must be the indices 0..{len(doc) - 1} without gaps")
    out = [doc[str(i)] for i in range(len(doc))]
    if out[:len(SPECIAL)] != list(SPECIAL):
        raise DataError(f"{where}: indices 0-{len(SPECIAL) - 1} must be {', '.join(SPECIAL)}")
    return out


# ---- the fix: template ids -> template strings ----------------------------------------------------
def template_map(parsed_path: str | os.PathLike) -> dict[str, str]:
    """Drain template id (as a decimal string) -> template string, from a ``parsed.parquet``; DataError
    when the file lacks the columns or gives one id two templates."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(parsed_path, columns=["template_id", "template"])
    except FileNotFoundError:
        raise DataError(f"{parsed_path}: parsed file not found") from None
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{parsed_path}: cannot read template_id and template: {str(exc).splitlines()[0]}") from None
    pairs = table.group_by(["template_id", "template"]).aggregate([]).to_pydict()
    out: dict[str, str] = {}
    for tid, text in zip(pairs["template_id"], pairs["template"]):
        if tid is None or text is None:
            continue
        key = str(int(tid))
        if key in out and out[key] != text:
            raise DataError(f"{parsed_path}: template id {key} has two templates ({out[key]!r}, {text!r})")
        out[key] = text
    return out


def fix_vocab(parsed_path: str | os.PathLike, old_vocab_path: str | os.PathLike) -> tuple[dict[str, Any], int]:
    """The vocabulary of ``old_vocab_path`` with its template-id keys replaced by the template strings
    of ``parsed_path``, every index unchanged (so a model trained on it stays valid), in the same file
    layout (our ``alog-detect/vocab`` format, or the original's plain ``{key: index}``); and the number
    of keys rewritten. DataError naming the ids ``parsed_path`` lacks, and for a vocabulary that is not
    keyed by ids."""
    from anomaly_log_detector.fileio.jsonio import read_json
    from anomaly_log_detector.fileio.schema import UNSEEN_ID

    doc = read_json(old_vocab_path, "vocab file", DataError)
    ours = isinstance(doc, dict) and doc.get("format") == VOCAB_FORMAT
    keyed = doc.get("templates") if ours else doc
    if not isinstance(keyed, dict) or not all(type(v) is int for v in keyed.values()):
        raise DataError(f"{old_vocab_path}: not a vocabulary ({{key: index}} map)")
    if not looks_id_keyed(list(keyed)):
        raise DataError(f"{old_vocab_path}: already keyed by template strings; nothing to fix")
    names = template_map(parsed_path)
    unseen = [k for k in keyed if int(k) == UNSEEN_ID]
    if unseen:
        raise DataError(f"{old_vocab_path}: id {UNSEEN_ID} marks unmatched lines (<UNSEEN>), it is no template")
    missing = [k for k in keyed if str(int(k)) not in names]
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise DataError(f"{old_vocab_path}: {len(missing):,} of {len(keyed):,} template ids are not in {parsed_path} "
                        f"({shown}); pass the parsed.parquet the vocabulary was built from")
    fixed: dict[str, int] = {}
    for key, index in sorted(keyed.items(), key=lambda kv: kv[1]):  # index order, as Python assigned it
        text = names[str(int(key))]
        if text in fixed:
            other = next(k for k, i in keyed.items() if i == fixed[text])
            raise DataError(f"{old_vocab_path}: template ids {other} and {key} have the same template {text!r} "
                            f"in {parsed_path}; one index per template is needed, rebuild the vocabulary")
        if text in SPECIAL:
            raise DataError(f"{old_vocab_path}: template id {key} is the reserved name {text!r}")
        fixed[text] = index
    out = {**doc, "templates": fixed} if ours else fixed
    if ours:
        Vocab.from_dict(out, str(old_vocab_path))  # indices must still be a valid vocabulary
    return out, len(fixed)
