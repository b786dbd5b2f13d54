"""The whitespace split of blank-separated --log-format strings (parsing/tokensplit.py) gives exactly
the regex's split on every line, including the awkward ones it hands back to the regex."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from anomaly_log_detector.parsing.formats import get_format
from anomaly_log_detector.parsing.header import RegexFormat
from anomaly_log_detector.parsing.tokensplit import token_plan

FORMATS = [
    "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "<Date> <Time> <Level> <Component>: <Content>",
    "<A>:: <B>  <C>= <Content>",
    "<A> <Content>",
]


def _lines(seed: int, n: int = 4000) -> list[str]:
    rng = random.Random(seed)
    alphabet = ["a", "b", "0", "7", ":", "::", "=", "-", "x", "ü", "\u00a0", "\x1c", "\\", "[", "]", "<", ">"]
    blanks = [" ", " ", " ", "  ", "\t", " \t", "\f", "\r", "\x0b", " \x0b "]
    out = []
    for _ in range(n):
        tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(0, 12))]
        line = ""
        for t in tokens:
            line += t + rng.choice(blanks)
        if rng.random() < 0.5:
            line = line.rstrip()
        out.append(line)
    return out + ["", " ", "a", "a ", "a b", "\tA B C: d"]


def _columns(fmt: RegexFormat, lines: list[str]) -> dict:
    head = fmt.parse(pa.array(lines, pa.string()))
    out = {"content": head.content.to_pylist(), "matched": head.matched.to_pylist(),
           "timestamp": head.timestamp.to_pylist(), "host": head.host.to_pylist(), "process": head.process.to_pylist(),
           "pid": head.pid.to_pylist(), "level": head.level.to_pylist()}
    out.update({k: v.to_pylist() for k, v in head.extra.items()})
    return out


@pytest.mark.parametrize("text", FORMATS)
@pytest.mark.parametrize("seed", [1, 2])
def test_whitespace_split_equals_the_regex(text, seed):
    fast = get_format("custom", text, year=2005)
    assert fast.tokens is not None
    slow = get_format("custom", text, year=2005)
    slow.tokens = None
    lines = _lines(seed)
    # Lines in the shape the fast path takes, too: the right number of fields and the literals.
    plan = fast.tokens
    rng = random.Random(seed)
    for _ in range(2000):
        parts = [("".join(rng.choice("ab0:=ü") for _ in range(rng.randint(0, 3))) + lit) or "z"
                 for _, lit in plan]
        lines.append(rng.choice(["", "", " ", "\t"]) + "".join(p + rng.choice([" ", "  ", "\t"]) for p in parts)
                     + rng.choice(["", "msg", "m: x  "]))
    assert _columns(fast, lines) == _columns(slow, lines)


def test_plans_of_formats():
    assert get_format("custom", FORMATS[1]).tokens[-1] == ("Component", ":")
    for text in [r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>", "<A> - <B> <Content>",
                 "<A><B> <Content>", "x <A> <Content>", "<A> <Content> end", "<A> <B>: <Content>:"]:
        assert get_format("custom", text).tokens is None, text
    assert token_plan(["", "A", " ", "Content", ""]) == (("A", ""),)


# ---- presets of single-space-separated tokens -------------------------------------------------------
from anomaly_log_detector.parsing.presets import REGEX_PRESETS, regex_preset  # noqa: E402
from anomaly_log_detector.parsing.tokensplit import preset_plan  # noqa: E402


def _preset_lines(seed: int, n: int = 3000) -> list[str]:
    """Lines near the BGL, HDFS and Spark headers: right, with a field broken, doubled or tabbed
    spaces, nothing after the header, colons and non-ASCII inside tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rng.randrange(3)
        if kind == 0:
            toks = [rng.choice(["-", "APPREAD", "KERN:X", "ü"]), str(rng.randrange(10 ** 9, 10 ** 10)),
                    rng.choice(["2005.06.03", "2005.6.03"]), "R02-M1-N0-C:J12-U11",
                    rng.choice(["2005-06-03-15.42.50.363779", "2005-06-03-15.42.50", "x"]),
                    "R02-M1-N0-C:J12-U11", "RAS", rng.choice(["KERNEL", "a:b"]), rng.choice(["INFO", "FATAL"])]
        elif kind == 1:
            toks = ["081109", rng.choice(["203615", "20361"]), str(rng.randrange(1, 40000)),
                    rng.choice(["INFO", "WARN", "info"]), rng.choice(["dfs.DataNode$PacketResponder:", "a:b:", ":", "x"])]
        else:
            toks = ["17/06/09", "20:10:46", rng.choice(["INFO", "ERROR"]),
                    rng.choice(["spark.SecurityManager:", "executor.Executor:", "noc"])]
        cut = rng.random()
        if cut < 0.05:
            toks = toks[:rng.randrange(len(toks))]
        line = ""
        for i, t in enumerate(toks):
            line += t + ("" if i == len(toks) - 1 else rng.choice([" "] * 12 + ["  ", "\t"]))
        tail = rng.choice(["", " ", " msg 1 2", "  two spaces", " ü: x", "\tx"])
        out.append(line + tail)
    return out + ["", " "]


@pytest.mark.parametrize("name", ["bgl", "hdfs", "spark"])
@pytest.mark.parametrize("seed", [5, 6])
def test_preset_split_equals_the_regex(name, seed):
    fast = regex_preset(name)
    assert fast._preset is not None
    slow = regex_preset(name)
    slow._preset = None
    lines = _preset_lines(seed)
    assert _columns(fast, lines) == _columns(slow, lines)


def test_preset_plans():
    assert preset_plan(regex_preset("hdfs").pattern) == (
        5, (("ts", 0, 1, ""), ("Pid", 2, 2, ""), ("Level", 3, 3, ""), ("Component", 4, 4, ":")))
    for pattern in [r"^(?P<a>\S+) +(?P<b>\S+)(?: |$)",        # a run of spaces
                    r"^(?P<a>.+) (?P<b>\S+)(?: |$)",          # a group that can hold a space
                    r"^(?P<a>\S+) (?P<b>\S+)",                # no (?: |$) tail
                    r"^x(?P<a>\S+) (?P<b>\S+)(?: |$)",        # a group starting inside a token
                    r"^(?P<a>\S+)\d (?P<b>\S+)(?: |$)",       # not a literal after a group
                    r"^(?P<a>[^x]+) (?P<b>\S+)(?: |$)",       # a class holding the space
                    r"^(?:(?P<a>\S+) )?(?P<b>\S+)(?: |$)"]:   # an optional group
        assert preset_plan(pattern) is None, pattern
    assert preset_plan(r"^(?P<a>\S+):: (?P<b>[a-z]+) \d+(?: |$)") == (3, (("a", 0, 0, "::"), ("b", 1, 1, "")))
    for name in REGEX_PRESETS:  # whatever shape: the plan is either None or consistent with the regex
        fmt = regex_preset(name)
        if fmt._preset is not None:
            slow = regex_preset(name)
            slow._preset = None
            lines = _preset_lines(7, 500)
            assert _columns(fmt, lines) == _columns(slow, lines), name
