"""Our inlined Drain fast_match must pick exactly the cluster Drain's own loop over our
get_seq_distance picks: same ids and same templates, message after message."""

import random
from pathlib import Path

import pytest
from drain3.drain import Drain

from anomaly_log_detector.parsing.masking import Masker
from anomaly_log_detector.parsing.miner import WILDCARD, _Drain

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub_2k"


class _Reference(_Drain):
    fast_match = Drain.fast_match  # Drain's loop, calling our get_seq_distance per cluster


class _Indexed(_Drain):
    INDEX_MIN = 2  # every leaf through the candidate index


def _both(messages, indexed=False, **kw):
    fast = (_Indexed if indexed else _Drain)(param_str=WILDCARD, **kw)
    ref = _Reference(param_str=WILDCARD, **kw)
    for m in messages:
        a, _ = fast.add_log_message(m)
        b, _ = ref.add_log_message(m)
        assert (a.cluster_id, a.get_template()) == (b.cluster_id, b.get_template()), m
    return fast


def _generated(n=3000, seed=3):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps", "<NUM>", "<HEX>", "<IP>", "x=<NUM>", "id<NUM>", "<*>"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 7))) for _ in range(n)]


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("sim_th", [0.0, 0.3, 0.4, 0.7, 1.0])
def test_fast_match_equals_drain_loop_generated(sim_th, indexed):
    drain = _both(_generated(), indexed=indexed, sim_th=sim_th, depth=4)
    if sim_th >= 0.3:
        assert len(drain.clusters) > 20  # the data really exercises crowded leaves


@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data (Loghub 2k samples)")
@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("system", ["BGL", "HDFS", "Linux", "OpenSSH"])
def test_fast_match_equals_drain_loop_loghub(system, indexed):
    masker = Masker.from_file()
    lines = (DATA / system / "corrected" / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    _both([masker.mask(line) for line in lines], indexed=indexed, sim_th=0.4, depth=4)


def test_random_words_stay_fast_and_exact():
    # 8 random words per line: every line a new template in one crowded leaf (the quadratic case).
    rng = random.Random(1)
    vocab = ["".join(rng.choice("abcdefghijklmnop") for _ in range(6)) for _ in range(5000)]
    msgs = [" ".join(rng.choice(vocab) for _ in range(8)) for _ in range(1500)]
    _both(msgs, indexed=True, sim_th=0.4, depth=4)
