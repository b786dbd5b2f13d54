"""The flow detector's vectorised tokeniser (detectors/flow_tokens.py) against its Python-loop
reference: the same token table, row for row, on generated logs and on adversarial text (unicode
digits, the fence character, long lines, adjacent and overlapping-looking matches, missing values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.detectors.flow_tokens import FENCE, tokens, tokens_reference
from anomaly_log_detector.synth import generate_synthetic_log

T0 = pd.Timestamp("2026-03-01", tz="UTC")

ADVERSARIAL = [
    "job 3f2a9c1b7e04 opened on port 8080 from 10.0.0.1 port 51234",
    "1.2.3.4567 1.2.3 1.2.3.4.5.6 999.999.999.999 0.0.0.0x",
    "uuid 123e4567-e89b-12d3-a456-426614174000 and a-1-b 1a-- -12- 12-",
    "veth1a2b3c4 veth1a2b3c4: entered blocking state",
    "digits in other scripts: \u0661\u0662\u0663 ab\u0663cd x\uff11\uff12\uff13 caf\u00e9 42z",
    f"fenced{FENCE}123 and {FENCE}{FENCE}4567",
    "12 1 ab 12345",
    "",
    "no tokens at all here",
    "a_1_b __9__ _12 1_ 1.2.3.4-abc",
    " ".join(f"w{i:04d}x" for i in range(3000)),  # a long line: 3000 tokens
    "192.168.001.002:8080 [12345] pid=777 (s1) tty=pts/0",
    "a1.2.3.4 _9.8.7.6 b12.3.4.5 x1.2.3.4567.8.9.1 1-2.3.4.5 q1-7.7.7.7",  # short words before addresses
]


def _lines(contents, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(contents)
    templates = [f"t{i}" for i in rng.integers(0, 4, n)]
    pids = [str(p) if p % 5 else "" for p in rng.integers(1, 99999, n)]
    return pd.DataFrame({
        "timestamp": [T0 + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 10_000, n)],
        "template": templates, "content": contents, "pid": pids,
        "process": [f"p{i}" for i in rng.integers(0, 3, n)], "host": [f"h{i}" for i in rng.integers(0, 2, n)],
        "source": "x.log"})


def _same(X: pd.DataFrame, wanted=None) -> None:
    from anomaly_log_detector.detectors.flows import _seconds

    t = _seconds(X)
    got, ref = tokens(X, t, wanted), tokens_reference(X, t, wanted)
    pd.testing.assert_frame_equal(got, ref)


WANTS = [None, {"t0": (0, True), "t1": (2, False), "t2": (-1, True)}, {"t3": (50, True)}]


@pytest.mark.parametrize("wanted", WANTS)
def test_adversarial_text_matches_the_reference(wanted):
    rng = np.random.default_rng(1)
    ascii_only = list("0123456789abcXYZ_-.: ")  # read by RE2
    mixed = ascii_only + ["\u0663", "\uff11", "\u00e9", FENCE]  # most read by re
    fuzz = ["".join(rng.choice(alphabet, rng.integers(0, 60))) for alphabet in (ascii_only, mixed)
            for _ in range(1500)]
    X = _lines(ADVERSARIAL * 5 + fuzz)
    X.loc[3, "content"] = None  # a missing message
    X.loc[4, "timestamp"] = pd.NaT  # a line without a time is in no flow
    X.loc[5, "pid"] = None
    _same(X, wanted)


@pytest.mark.parametrize("wanted", WANTS[:2])
def test_generated_log_matches_the_reference(tmp_path, wanted):
    generate_synthetic_log(str(tmp_path / "synth.log"), 4000, 0.05, seed=4)
    parse_logs(str(tmp_path / "synth.log"), str(tmp_path / "p"), quiet=True)
    X = pd.read_parquet(tmp_path / "p" / "parsed.parquet")
    if wanted is not None:  # the real templates, with early and late positions
        names = sorted(set(X["template"].astype(str)))
        wanted = {n: (i % 4 - 1, i % 2 == 0) for i, n in enumerate(names)}
    _same(X, wanted)


def test_empty_and_untimed_input():
    X = _lines(["a 123", "b 456"])
    X["timestamp"] = pd.NaT
    _same(X)
    _same(X.iloc[:0])
    _same(X, {"nothing": (3, True)})


def test_messages_tokenised_in_small_chunks_match_the_reference(monkeypatch):
    """The Arrow path reads the messages a chunk at a time: tokens and positions do not depend on it."""
    from anomaly_log_detector.detectors import flow_tokens

    monkeypatch.setattr(flow_tokens, "CHUNK", 7)
    X = _lines(ADVERSARIAL * 3 + [f"job {i:06x} port {1000 + i} from 10.0.{i % 256}.1" for i in range(200)])
    _same(X)
    _same(X, WANTS[1])
    plain = _lines([f"job {i:06x} port {1000 + i} from 10.0.{i % 256}.1" for i in range(200)])
    _same(plain)  # every message read by RE2, in slices of the column


LOGHUB = ["Apache", "BGL", "HDFS", "Hadoop", "Linux", "OpenSSH", "Spark", "Zookeeper"]


@pytest.mark.parametrize("name", LOGHUB)
def test_loghub_lines_match_the_reference(name):
    """Real lines (whole lines as messages: dates, IPs, block ids, paths, hex, dashes and dots of every
    kind): the tokens RE2 fences and numpy cuts out are the reference's, for every position and for the
    first few only."""
    from helpers import shared_data

    lines = shared_data("loghub_2k", name, "corrected", f"{name}_2k.log").read_text(errors="replace").splitlines()
    X = _lines(lines, seed=2)
    _same(X)
    _same(X, {"t0": (0, True), "t1": (1, False), "t2": (3, True), "t3": (-1, True)})


def test_long_token_pattern_reads_again_what_it_may_misread():
    """RE2 matches LONG_TOKEN (TOKEN's long matches) first; where a short word runs into an address
    (``a1.2.3.4``: TOKEN takes ``a1``, LONG_TOKEN ``1.2.3.4``) the message is read again with TOKEN."""
    import pyarrow as pa

    from anomaly_log_detector.detectors.flow_tokens import LONG_TOKEN, _fenced_tokens, message_tokens

    messages = ["a1.2.3.4 port 22", "ab1.2.3.4 port 22", "1.2.3.4567.8.9.1", "x_1 10.0.0.1"]
    last = np.full(len(messages), 10)
    _, _, _, redo = _fenced_tokens(pa.array(messages, pa.large_string()), last, LONG_TOKEN)
    assert redo.tolist() == [0]
    row, k, value = message_tokens(pa.array(messages, pa.large_string()), np.arange(len(messages)), last)
    # "a1.2.3.4 port 22" has no token of 3+ characters: a1, 2, 3, 4 and 22 are TOKEN's matches.
    assert list(zip(row.tolist(), k.tolist(), value.to_pylist())) == [
        (1, 0, "ab1"), (2, 0, "1.2.3.456"), (2, 1, "7.8.9.1"), (3, 0, "x_1"), (3, 1, "10.0.0.1")]


def test_message_tokens_of_string_and_large_string_columns_agree():
    # The fences are found through 64-bit offsets: a plain string column is read as large_string.
    import pyarrow as pa

    from anomaly_log_detector.detectors.flow_tokens import message_tokens

    messages = ["user abc123 from 10.0.0.1 port 2222", "x y", "", "id-42a done ab1.2.3.4"]
    last = np.full(len(messages), 10)
    got = [message_tokens(pa.array(messages, kind), np.arange(len(messages)), last)
           for kind in (pa.large_string(), pa.string())]
    assert got[0][0].tolist() == [0, 0, 0, 3, 3] and got[0][2].to_pylist()[-1] == "ab1"
    (row_a, k_a, v_a), (row_b, k_b, v_b) = got
    assert row_a.tolist() == row_b.tolist() and k_a.tolist() == k_b.tolist() and v_a.equals(v_b)
