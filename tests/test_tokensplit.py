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
