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


# ---- folding 0 as well, in messages without an x ----------------------------------------------------
from anomaly_log_detector.parsing.masking import _ALL_DIGITS, _skeleton, _zero_foldable  # noqa: E402


def _zero_messages(n=6000, seed=21):
    """Messages where 0s matter: 0x values, numbers with and without zeros, lengths that repeat, with
    and without an x elsewhere in the message."""
    rng = random.Random(seed)
    pieces = ["0x{d}", "0X{d}", "{z}", "blk_-{z}", "10.{z}.0.{z}:50010", "{z}ms", "0{z}", "x", "ax{z}", "<{z}>",
              "size {z}", "v{z}.{z}.0", "2008-11-0{s} 20:{s}0:00", "r={z}", "{z}0x", "0 x", "[{z}]"]

    def z():
        return "".join(rng.choice("0000123456789") for _ in range(rng.randint(1, 12)))

    out = []
    for _ in range(n):
        words = [rng.choice(pieces).format(d=rng.randrange(16 ** 6), z=z(), s=rng.randrange(10))
                 for _ in range(rng.randint(1, 7))]
        out.append(" ".join(words))
    return out + [None, "", "0", "x0"]


def test_default_rules_fold_zeros_in_messages_without_an_x_and_match_the_reference():
    masker = Masker.from_file()
    assert masker._zero_fold
    messages = _zero_messages()
    _check(masker, messages)
    skel = _skeleton(pa.array(messages, pa.string()), zero=True).to_pylist()
    for m, s in zip(messages, skel):
        if m is not None and "x" not in m.lower():
            assert not any(c in "023456789" for c in s), (m, s)
        elif m is not None:
            assert s == "".join("1" if c in "123456789" else c for c in m)


def test_a_mask_that_writes_an_x_before_a_0x_rule_stops_zero_folding_and_stays_exact():
    rules = [
        {"name": "ex", "group": "g", "pattern": r"\bhexval\b", "mask": "0x"},   # writes an x (and a 0)
        {"name": "hex", "group": "hex", "pattern": r"\b0[xX][0-9a-fA-F]*", "mask": "<HEX>"},
        {"name": "num", "group": "num", "pattern": r"\b\d+\b", "mask": "<NUM>"},
    ]
    masker = Masker.from_list(rules)
    assert masker._digit_blind and not masker._zero_fold
    _check(masker, ["hexval 10", "hexval1 00", "0 hexval", "00 1"] * 20 + _zero_messages(500, seed=3))
    # The same rules with the x-writing rule after the 0x rule: zeros may be folded.
    later = Masker.from_list([rules[1], rules[0], rules[2]])
    assert later._zero_fold
    _check(later, ["hexval 10", "hexval1 00", "0 hexval", "00 1"] * 20 + _zero_messages(500, seed=4))


@pytest.mark.parametrize("pattern, guarded, blind", [
    (r"\d+", True, True), (r"0[xX][0-9a-f]+", True, False), (r"\b0x\d", True, False), (r"0[xy]", False, False),
    (r"0(?:x)", True, False), (r"[0-5][xX]", True, False), (r"0", False, False), (r"[^0]x", False, False),
    (r"(?:0[xX]|\d)+", True, False),
])
def test_zero_blindness_of_patterns(pattern, guarded, blind):
    from anomaly_log_detector.parsing.masking import _digit_blind as blind_of
    assert blind_of(pattern, _ALL_DIGITS) is blind
    assert blind_of(pattern, _ALL_DIGITS, x_guard=True) is (blind or guarded)


def test_zero_foldable_rule_lists():
    from anomaly_log_detector.parsing.masking import MaskRule
    hexr = MaskRule("hex", "hex", r"\b0[xX][0-9a-fA-F]+", "<HEX>")
    zero = MaskRule("z", "g", r"\b0\b", "<Z>")
    xmask = MaskRule("w", "g", r"\bw\b", "X")
    assert _zero_foldable([hexr, xmask])
    assert not _zero_foldable([xmask, hexr])
    assert not _zero_foldable([zero])
