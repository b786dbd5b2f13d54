"""Skeleton masking: messages that differ only in digits 1-9 are masked once, and the result must be
exactly what masking each message on its own gives (Python reference, line by line)."""

import random

import pyarrow as pa
import pytest

from anomaly_log_detector.parsing.masking import Masker, _digit_blind


def _messages(n=4000, seed=5):
    rng = random.Random(seed)
    pieces = ["r{d}=0x{h}", "blk_{d}", "port {d}", "v{d}.{d}", "10.{d}.{d}.{d}", "id{d}x", "core.{d}",
              "dbcr0={h}", "{d}ms", "ünï{d}", "0{d}", "x{d}{d}y", "a-{d}", "2024-01-0{s} 03:04:0{s}"]

    def digits():
        return str(rng.randrange(1, 10 ** rng.randint(1, 6)))

    out = []
    for _ in range(n):
        words = [rng.choice(pieces).format(d=digits(), h=f"{rng.randrange(16 ** 8):08x}", s=rng.randrange(10))
                 for _ in range(rng.randint(1, 6))]
        out.append(" ".join(words))
    return out + [None, ""]


def _check(masker: Masker, messages: list) -> None:
    got = masker.mask_array(pa.array(messages, pa.string())).to_pylist()
    want = [None if m is None else masker.mask(m) for m in messages]
    assert got == want


def test_default_rules_are_digit_blind_and_skeletons_match_the_reference():
    masker = Masker.from_file()
    assert masker._digit_blind
    _check(masker, _messages())


def test_rules_that_copy_digits_through_or_write_them_fall_back_exactly():
    rules = [
        {"name": "keep-port", "group": "g", "pattern": r"port (\d+)", "mask": r"PORT=\1"},  # copies digits
        {"name": "v4", "group": "g", "pattern": r"\bv\d+\.\d+", "mask": "<V2>"},            # digit in mask
        {"name": "num", "group": "num", "pattern": r"\b\d+\b", "mask": "<NUM>"},
    ]
    masker = Masker.from_list(rules)
    assert masker._digit_blind
    _check(masker, _messages(seed=9))


@pytest.mark.parametrize("pattern, blind", [
    (r"\d+", True), (r"[0-9a-f]+", True), (r"0[xX][0-9a-fA-F]+", True), (r"\b[A-Za-z_]\w*\b", True),
    (r"r[1-5]", False), (r"7", False), (r"[^3]", False), (r"x(?:12|[0-9])", False),
])
def test_digit_blindness_of_patterns(pattern, blind):
    assert _digit_blind(pattern) is blind


def test_a_rule_that_tells_digits_apart_disables_skeletons_and_stays_exact():
    rules = [{"name": "r1", "group": "g", "pattern": r"\br1\d", "mask": "<R1X>"},
             {"name": "num", "group": "num", "pattern": r"\b\d+\b", "mask": "<NUM>"}]
    masker = Masker.from_list(rules)
    assert not masker._digit_blind
    _check(masker, ["r12 r22 r13", "r19 5", "r21 r1"] * 50)
