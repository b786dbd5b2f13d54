"""The columnar parse pipeline: sources -> header split -> masking -> de-duplicated template mining.

Work happens on chunks of lines as Arrow arrays, never one Python call per line on the hot path:
headers are split and variables masked with vectorized RE2 regexes, masked messages are
dictionary-encoded, and Drain only sees each distinct masked message once (results are mapped back with
an index take). Memory is bounded by the chunk size plus the number of templates and distinct messages
kept in the cache, not by the input size.

Drain templates can still generalize after a line was assigned, so each chunk's rows are written at once
with their cluster id and the final template texts are joined to them at the end (``output.py``).
Reading runs ahead on a thread of its own (``readahead.py``); the header split and masking of the next
chunks run on two more while Drain works on the current one.

Each source gets its own header format (detected on its first chunk with ``--format auto``), so a
folder of mixed logs keeps every file's fields; the parsed table holds the union of their extra
columns (null where a file's format lacks one).

``--since`` / ``--until`` (``ParseConfig.since``/``until``) keep the lines with ``since <= time < until``
and count the others in ``lines_skipped`` (``outside_time_range``), before template mining, so that
the templates of the kept lines are learned exactly as if the file held only them. A line without a
timestamp (a stack trace's continuation, a header that did not match) takes the last timestamp seen
before it in its file and so goes with its header line; lines before a file's first timestamp cannot
be placed and are left out as ``no_timestamp``.

Progress (a bar on stderr when it is a terminal) counts bytes of the inputs as stored, so its
percentage and ETA are known from the start; stdin has no size: a rate only.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anomaly_log_detector.config import ParseConfig
from anomaly_log_detector.errors import InputError, StateError, output_error
from anomaly_log_detector.fileio.jsonio import write_json_atomic
from anomaly_log_detector.parsing.formats import LogFormat, detect_format, get_format
from anomaly_log_detector.parsing.header import HeaderColumns
from anomaly_log_detector.parsing.masking import Masker
from anomaly_log_detector.parsing.miner import TemplateMiner
from anomaly_log_detector.parsing.output import STRING_COLUMNS, ParsedWriter
from anomaly_log_detector.parsing.readahead import InputProgress, ahead
from anomaly_log_detector.parsing.sources import STDIN, LineBatch, ReadStats, list_sources, read_batches
from anomaly_log_detector.parsing.timestamps import TIMESTAMP_TYPE
from anomaly_log_detector.fileio.schema import UNSEEN_ID, UNSEEN_TEMPLATE

PARSED_FILE = "parsed.parquet"
PREVIEW_FILE = "preview.json"
SUMMARY_FILE = "parse_summary.json"
# Distinct masked messages remembered across chunks; beyond this the cache restarts (bounded memory).
CACHE_LIMIT = 1_000_000
DETECT_SAMPLE = 200

# Threads preparing chunks (Arrow work) while the main thread runs Drain and writes.
PREPARE_THREADS = 2
OUTSIDE_TIME_RANGE, NO_TIMESTAMP = "outside_time_range", "no_timestamp"

log = logging.getLogger(__name__)


@dataclass
class _Chunk:
    table: pa.Table
    unmatched: int


class ParsePipeline:
    """One parse run. Use :func:`run_parse`; the class only keeps the per-run state together."""

    def __init__(self, config: ParseConfig):
        self.config = config
        self.masker = Masker.from_file(config.rules_path, config.disabled_masks)
        self.miner = self._open_miner()
        self.templates_before = len(self.miner)
        self.session_pattern = _session_pattern(config.session_regex)
        self.cache: dict[str, int] = {}
        self.stats = ReadStats()
        self.auto = not config.log_format and config.format == "auto"
        self.formats: list[tuple[dict, LogFormat]] = []   # (source entry, its format)
        self.unmatched = 0
        self.unseen_lines = 0
        self.ranged = config.since is not None or config.until is not None
        self._last_time: tuple[int, pa.Scalar] | None = None  # (source_no, last timestamp seen in it)

    # ---- set-up --------------------------------------------------------------------------
    def _open_miner(self) -> TemplateMiner:
        path = self.config.drain_state
        if path and os.path.exists(path):
            return TemplateMiner.load(path)
        if self.config.frozen:
            raise StateError("--frozen needs an existing --drain-state file to match against"
                             + (f" ({path} does not exist)" if path else ""))
        return TemplateMiner(self.config.drain)

    def _new_format(self, name: str | None, path: str | None) -> LogFormat:
        """The configured format (`name`: a detected preset) for the source at `path`."""
        cfg = self.config
        if name is None:
            name = cfg.format if not cfg.log_format else "custom"
        return get_format(name, cfg.log_format, year=cfg.year, tz=cfg.tz, reference=_modified(path))

    def _source_format(self, batch: LineBatch) -> LogFormat:
        """The format of the source whose first batch this is: detected on it with ``--format auto``
        (here, in one thread, so chunks prepared in parallel never race to decide)."""
        detected = detect_format(batch.raw.slice(0, DETECT_SAMPLE).to_pylist()) if self.auto else None
        fmt = self._new_format(detected, batch.source)
        entry = self.stats.sources[batch.source_no]
        entry.update(format=fmt.name, format_detected=self.auto)
        self.formats.append((entry, fmt))
        log.debug("%s: format %s (%s), compression %s", _text(batch.source), fmt.name,
                  "detected" if self.auto else "given", entry.get("compression"))
        return fmt

    # ---- the per-chunk work --------------------------------------------------------------
    def _template_ids(self, encoded: pa.DictionaryArray) -> np.ndarray:
        uniques: list[str] = encoded.dictionary.to_pylist()
        index = encoded.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(index, minlength=len(uniques))
        ids = np.empty(len(uniques), dtype=np.int64)
        new_pos = []
        for pos, msg in enumerate(uniques):
            hit = self.cache.get(msg)
            if hit is None:
                new_pos.append(pos)
            else:
                ids[pos] = hit
        known = np.setdiff1d(np.arange(len(uniques)), new_pos, assume_unique=True)
        if new_pos:
            msgs = [uniques[p] for p in new_pos]
            if self.config.frozen:
                found = self.miner.match(msgs)
            else:
                found = self.miner.learn(msgs, counts[new_pos])
            ids[new_pos] = found
            if len(self.cache) + len(msgs) > CACHE_LIMIT:
                self.cache.clear()
            self.cache.update(zip(msgs, found.tolist()))
        if known.size and not self.config.frozen:
            self.miner.add_counts(ids[known], counts[known])
        return ids[index]

    def _prepare(self, batch: LineBatch, fmt: LogFormat) -> dict:
        """The Arrow part of a chunk: header split, masking, session ids, distinct messages.
        Thread-safe (pure functions over immutable arrays); Arrow kernels release the GIL, so the next
        chunk is prepared while Drain works on this one."""
        nbytes = int(pc.sum(pc.binary_length(batch.raw)).as_py() or 0) + len(batch.raw)  # + the line ends
        head, refused = fmt.parse(batch.raw), None
        if head.refused is not None:  # lines the format cannot read (JSON nested too deeply): skipped
            batch, head, refused = head.drop_refused(batch)
        raw = batch.raw
        masked = self.masker.mask_array(head.content)
        if isinstance(masked, pa.ChunkedArray):
            masked = masked.combine_chunks()
        session = (pc.struct_field(pc.extract_regex(raw, self.session_pattern), [0])
                   if self.session_pattern else pa.nulls(len(raw), pa.string()))
        unmatched = len(raw) - int(pc.sum(head.matched).as_py() or 0)
        return {"batch": batch, "head": head, "masked": masked, "session": session,
                "encoded": pc.dictionary_encode(masked), "unmatched": unmatched, "refused": refused,
                "bytes": nbytes}

    def _in_range(self, prepared: dict) -> dict:
        """`prepared` without its lines outside --since/--until, counted in the skipped lines. Runs in
        order, chunk after chunk (a chunk's first lines may take the previous chunk's last time)."""
        batch, head = prepared["batch"], prepared["head"]
        n = len(batch.raw)
        if n == 0:
            return prepared
        times = pc.fill_null_forward(head.timestamp)  # a line without a time takes the last one before it
        if self._last_time is not None and self._last_time[0] == batch.source_no:
            times = pc.fill_null(times, self._last_time[1])
        if times[n - 1].is_valid:
            self._last_time = (batch.source_no, times[n - 1])
        keep = pc.is_valid(times)
        no_time = n - int(pc.sum(keep).as_py() or 0)
        if self.config.since is not None:
            keep = pc.and_(keep, pc.greater_equal(times, pa.scalar(self.config.since, TIMESTAMP_TYPE)))
        if self.config.until is not None:
            keep = pc.and_(keep, pc.less(times, pa.scalar(self.config.until, TIMESTAMP_TYPE)))
        keep = pc.fill_null(keep, False)
        kept = int(pc.sum(keep).as_py() or 0)
        if no_time:
            self.stats.skipped[NO_TIMESTAMP] += no_time
        if n - kept - no_time:
            self.stats.skipped[OUTSIDE_TIME_RANGE] += n - kept - no_time
        if kept == n:
            return prepared
        log.debug("%s: lines %d-%d: %d in the time range, %d outside, %d before any timestamp",
                  _text(batch.source), int(batch.line_nos[0]), int(batch.line_nos[-1]), kept, n - kept - no_time,
                  no_time)
        rows = keep.to_numpy(zero_copy_only=False)
        head = HeaderColumns(**{f.name: getattr(head, f.name).filter(keep) for f in fields(head)
                                if f.name not in ("extra", "refused")},
                             extra={k: v.filter(keep) for k, v in head.extra.items()})
        masked = prepared["masked"].filter(keep)
        return {**prepared, "batch": replace(batch, line_nos=batch.line_nos[rows], raw=batch.raw.filter(keep)),
                "head": head, "masked": masked, "session": prepared["session"].filter(keep),
                "encoded": pc.dictionary_encode(masked),  # only the kept lines' messages reach Drain
                "unmatched": kept - int(pc.sum(head.matched).as_py() or 0)}

    def _finish(self, prepared: dict) -> _Chunk:
        """Template ids (Drain, sequential and in order) and the chunk's table."""
        if self.ranged:
            prepared = self._in_range(prepared)
        batch, head, masked = prepared["batch"], prepared["head"], prepared["masked"]
        template_ids = self._template_ids(prepared["encoded"])
        if self.config.frozen:
            self.unseen_lines += int((template_ids == UNSEEN_ID).sum())
        raw = batch.raw
        n = len(raw)
        columns = {
            "line_no": pa.array(batch.line_nos, type=pa.int64()),
            "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                                     pa.array([_text(batch.source)])).cast(pa.string()),
            "timestamp": head.timestamp,
            "host": head.host, "process": head.process, "pid": head.pid, "level": head.level,
            "session": prepared["session"],
            "raw": raw, "content": head.content, "masked": masked,
            "template_id": pa.array(template_ids, type=pa.int64()),
        }
        # Core columns keep one type whatever the source's format (a raw file has all-null headers).
        columns = {name: values.cast(_CORE_TYPES[name]) for name, values in columns.items()}
        for name, values in head.extra.items():
            columns[_extra_name(name)] = values
        return _Chunk(pa.table(columns), prepared["unmatched"])

    # ---- the run -------------------------------------------------------------------------
    def run(self, inputs: list[str]) -> dict:
        cfg = self.config
        started = time.perf_counter()
        fixed = None if self.auto else self._new_format(None, None)  # bad --format/--log-format: fail now
        sources: list[str] = []
        in_folders: set[str] = set()
        for path in inputs:
            found = list_sources(path, self.stats.skips)
            sources.extend(found)
            if path != STDIN and os.path.isdir(path):
                in_folders.update(found)
        final_path = os.path.join(cfg.out_dir, PARSED_FILE)
        with _writing(cfg.out_dir):
            os.makedirs(cfg.out_dir, exist_ok=True)
            _remove_leftovers(final_path)
        progress = InputProgress(sources, cfg.quiet)
        log.debug("parse: %d source(s) (%s bytes), format %s, frozen %s, time range %s - %s, into %s",
                  len(sources), "?" if progress.total is None else f"{progress.total:,}",
                  cfg.log_format or cfg.format, cfg.frozen, cfg.since, cfg.until, cfg.out_dir)
        batches = ahead(read_batches(sources, self.stats, cfg.chunk_lines, cfg.max_line_bytes, in_folders))
        output = ParsedWriter(final_path)
        # Any failure (a full disk, an interrupt: the CLI turns SIGTERM into one) removes the partial files.
        try:
            with _writing(cfg.out_dir):
                try:
                    with ThreadPoolExecutor(max_workers=PREPARE_THREADS) as pool:
                        pending: deque = deque()
                        fmt, source_no = None, -1
                        for batch in batches:
                            if batch.source_no != source_no:  # a new source's first batch
                                fmt, source_no = self._source_format(batch), batch.source_no
                            pending.append(pool.submit(self._prepare, batch, fmt))
                            if len(pending) < PREPARE_THREADS:
                                continue
                            self._write(pending.popleft().result(), output, progress)
                        while pending:
                            self._write(pending.popleft().result(), output, progress)
                    progress.finish()
                finally:
                    batches.close()  # stops the read-ahead thread
                    progress.close()
                    output.close()
                rows = self._finalize(output, final_path)
        finally:
            output.remove()
        if cfg.drain_state and not cfg.frozen:
            with _writing(cfg.drain_state):
                self.miner.save(cfg.drain_state)
        seconds = time.perf_counter() - started
        summary = self._summary(sources, rows, seconds, fixed)
        log.debug("parse: %d lines read, %d parsed, skipped %s, %d templates (%d new), %.2f s",
                  summary["lines_read"], rows, summary["lines_skipped"], summary["templates"],
                  summary["templates_new"], seconds)
        with _writing(cfg.out_dir):
            _write_json(os.path.join(cfg.out_dir, SUMMARY_FILE), summary)
        return summary

    def _write(self, prepared: dict, output: ParsedWriter, progress: InputProgress) -> None:
        chunk = self._finish(prepared)
        self.stats.skipped.update(prepared["refused"] or {})
        self.unmatched += chunk.unmatched
        if chunk.table.num_rows:  # every line of the chunk outside the time range: nothing to write
            output.write(chunk.table)
        batch = prepared["batch"]
        progress.advance(batch.source_no, batch.source, prepared["bytes"],
                         self.stats.sources[batch.source_no].get("compression"), len(batch.raw), len(self.miner))

    def _finalize(self, output: ParsedWriter, final_path: str) -> int:
        """Add the final template texts; complete parsed.parquet and write preview.json."""
        templates = self.miner.templates()
        lookup = [UNSEEN_TEMPLATE] * (max(templates, default=0) + 1)  # position 0 serves UNSEEN_ID
        for tid, text in templates.items():
            lookup[tid] = text
        try:
            rows = output.finish(pa.array(lookup, type=pa.string()))
            preview = next(pq.ParquetFile(output.tmp).iter_batches(batch_size=10), None)
            output.remove(keep_result=True)
            os.replace(output.tmp, final_path)
        finally:
            output.remove()
        _write_json(os.path.join(self.config.out_dir, PREVIEW_FILE), preview.to_pylist() if preview else [])
        return rows

    def _summary(self, sources: list[str], rows: int, seconds: float, fixed: LogFormat | None) -> dict:
        st = self.stats
        skipped = dict(sorted(st.skipped.items()))
        if st.lines_read != rows + sum(skipped.values()):  # a bug of ours, never silently
            raise RuntimeError(f"line accounting broken: read {st.lines_read}, parsed {rows}, skipped {skipped}")
        for entry, fmt in self.formats:
            assumptions = getattr(fmt, "assumptions", None)
            if callable(assumptions):
                entry["time_assumptions"] = assumptions()
        for entry in st.sources:  # a source without a non-blank line never chose a format
            entry.setdefault("format", fixed.name if fixed else None)
            entry.setdefault("format_detected", False)
        names = {fmt.name for _, fmt in self.formats}
        default = fixed.name if fixed else "raw"
        return {
            "inputs": sources,
            "format": names.pop() if len(names) == 1 else "mixed" if names else default,
            "format_detected": self.auto,
            "files_read": len(st.sources),
            "files_skipped": st.skips.files,
            "links_skipped": st.skips.links,
            "lines_read": st.lines_read,
            "lines_parsed": rows,
            "lines_skipped": skipped,
            "header_unmatched": self.unmatched,
            "lines_invalid_utf8": st.invalid_utf8,
            "lines_with_nul": st.nul_bytes,
            "lines_truncated": st.truncated,
            "max_line_bytes": self.config.max_line_bytes,
            "templates": len(self.miner),
            "templates_new": len(self.miner) - self.templates_before,
            "templates_folded": dict(self.miner.folded),  # the cap: DrainConfig.max_clusters_per_leaf
            "template_explosion": self.miner.folded["messages"] > 0,
            "frozen": self.config.frozen,
            "unseen_lines": self.unseen_lines,
            "time_range": {"since": _iso(self.config.since), "until": _iso(self.config.until)},
            "source_errors": st.source_errors,
            "sources": st.sources,
            "drain_state": self.config.drain_state,
            "drain_config": self.miner.config.to_dict(),
            "masking_rules": [r.name for r in self.masker.rules],
            "seconds": round(seconds, 4),
            "lines_per_second": round(st.lines_read / seconds, 1) if seconds > 0 else None,
            "outputs": {name: os.path.join(self.config.out_dir, name)
                        for name in (PARSED_FILE, PREVIEW_FILE, SUMMARY_FILE)},
        }


def run_parse(inputs: list[str], config: ParseConfig) -> dict:
    """Parse every input path (file, folder, .gz or ``-``) into ``config.out_dir``; return the summary."""
    return ParsePipeline(config).run(inputs)


# ---- helpers ---------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@contextmanager
def _writing(where: str) -> Iterator[None]:
    """An OSError of a full disk, a quota, a read-only or forbidden place, as one OutputError naming
    `where` (pyarrow's write errors name no file)."""
    try:
        yield
    except OSError as exc:
        error = output_error(exc, where)
        if error is None:
            raise
        raise error from None


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _remove_leftovers(final_path: str) -> None:
    """Delete the temporary files of an earlier run into the same folder that was killed (SIGKILL, power
    loss) before it could: only our own names, ``parsed.parquet.tmp``, ``parsed.parquet.partial.N`` and
    ``parsed.parquet.partial.tN``.
    One run at a time writes a folder's parsed.parquet, so none of them can belong to a live run."""
    folder, name = os.path.split(final_path)
    pattern = re.compile(re.escape(name) + r"\.(tmp|partial\.t?[0-9]+)")
    with os.scandir(folder) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                _remove(entry.path)


def _modified(path: str | None) -> datetime | None:
    """A regular file's modification time (UTC): the year of its year-less timestamps."""
    if path is None or path == STDIN:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return datetime.fromtimestamp(st.st_mtime, timezone.utc) if stat.S_ISREG(st.st_mode) else None


def _text(path: str) -> str:
    """A path as valid UTF-8 text: bytes of a file name that are not UTF-8 (kept by Python as surrogate
    escapes) become visible `\\xNN` escapes instead of failing the Parquet write."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _session_pattern(regex: str | None) -> str | None:
    """Wrap the user's session regex in one named group for pyarrow's extract_regex (RE2)."""
    if not regex:
        return None
    try:
        re.compile(regex)
    except re.error as exc:
        raise InputError(f"--session-regex {regex!r} is not a valid regular expression: {exc}") from None
    pattern = f"(?P<session>{regex})"
    try:
        pc.extract_regex(pa.array(["probe"]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"--session-regex {regex!r} is not supported (RE2 syntax, no look-around "
                         f"or back-references): {exc}") from None
    return pattern


_CORE = {"line_no", "source", "timestamp", "host", "process", "pid", "level", "session", "raw",
         "content", "masked", "template_id", "template"}


def _extra_name(name: str) -> str:
    return f"{name}_field" if name in _CORE else name


_CORE_TYPES = {"line_no": pa.int64(), "source": pa.string(), "timestamp": TIMESTAMP_TYPE,
               **{c: pa.string() for c in (*STRING_COLUMNS, "raw", "content", "masked")},
               "template_id": pa.int64()}


def _write_json(path: str, obj) -> None:
    write_json_atomic(path, obj, indent=2, default=str)
