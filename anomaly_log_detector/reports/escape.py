"""Escaping of text that comes from logs or file names, for terminals and for Markdown.

Log lines, hosts, processes, templates and file names are attacker-controlled: any local user can put
a line into syslog, and a file name can hold any byte but ``/`` and NUL. Three rules, one per place
such text ends up:

* :func:`terminal_safe` - for anything printed on a terminal (stdout, stderr) or written into a text
  file a person may ``cat``: C0 and C1 control characters (ESC, BEL, CR, NUL...), DEL, Unicode
  bidirectional overrides and isolates (U+202A-202E, U+2066-2069, which reorder what is shown),
  U+2028/U+2029 and lone surrogates (undecodable bytes of a file name) become visible escapes such
  as ``\\x1b``, ``\\r``, ``\\u202e``. No ANSI/OSC sequence (colour, terminal title, OSC 52 clipboard
  write) survives, and a line cannot be overwritten. Tab is kept; newline is kept only where the
  caller says the text is several lines.
* :func:`md_text` - for log text inside Markdown prose or a table cell: :func:`terminal_safe`, then
  ``<``, ``>``, ``&`` as HTML entities and ``\\ ` * _ [ ] # | ~`` backslash-escaped, plus a leading
  ``-``, ``+``, ``=`` or ``1.``: no tag, entity, link, image, emphasis, heading or list can be formed
  (CommonMark + GFM tables and strikethrough), and a ``|`` cannot end a table cell.
* :func:`code_span` / :func:`code_block` - log text shown verbatim: a backtick fence longer than any
  backtick run inside (the CommonMark rule), so nothing inside is interpreted, control characters
  neutralised as above; a code span is one line (newlines shown as ``\\n``).

JSON and Parquet outputs keep the raw text: JSON escapes control characters itself, and a program
reading them wants the bytes of the log.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings/overrides/isolates and the
# implicit marks; line/paragraph separators; lone surrogates (undecodable bytes of a file name).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
_UNSAFE_OR_NEWLINE = re.compile(f"\n|{_UNSAFE.pattern}")
_NAMED = {"\n": "\\n", "\r": "\\r"}
# Backslash-escaped by md_text: what opens code, emphasis, strikethrough, a link or image ([ and ]:
# with them escaped, "(" and "!" cannot complete one, so they stay readable), a heading, a table
# cell, and the backslash itself; <, > and & become entities instead.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# What would open a block at a line's start once the characters above are escaped: a list item or
# thematic break (-, +), a setext underline (=), an ordered list item (1. ); the entity of > cannot.
_BLOCK_START = re.compile(r"^( *)(?:([-+=])|(\d{1,9})\.)")


def _visible(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that did not decode (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, multiline: bool = False) -> str:
    """`text` with every control, bidi and undecodable character shown as a visible escape
    (``\\x1b``, ``\\r``, ``\\u202e``...); newlines too unless `multiline`."""
    return (_UNSAFE if multiline else _UNSAFE_OR_NEWLINE).sub(lambda m: _visible(m.group()), str(text))


def md_text(text: object) -> str:
    """`text` as inert Markdown text (prose or a table cell): shown as is, never interpreted."""
    out = _MD_SPECIAL.sub(r"\\\1", terminal_safe(text))
    out = "".join(_ENTITIES.get(c, c) for c in out)
    return _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[2] else f"{m[1]}{m[3]}\\.", out, count=1)


def _longest_backticks(text: str) -> int:
    if "`" not in text:  # most log text: a scan, not a regex over megabytes of a samples report
        return 0
    return max(map(len, re.findall("`+", text)), default=0)


def code_span(text: object, table: bool = False) -> str:
    """Inline code showing `text` verbatim on one line. `table`: for a GFM table cell, where ``|``
    must be escaped even inside code (a backslash run before it is made even, so that GitHub's and
    markdown-it's table parsers both read the pipe as escaped; the cell then shows one more
    backslash there)."""
    text = terminal_safe(text)
    if table:
        text = re.sub(r"(\\*)\|", lambda m: m.group(1) + "\\" * (len(m.group(1)) % 2) + "\\|", text)
    if not text:
        return "` `"
    fence = "`" * (_longest_backticks(text) + 1)
    # CommonMark strips one space from each side when both ends are spaces; pad then, and where the
    # text starts or ends with a backtick (it would merge with the fence).
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(lines: list[str]) -> str:
    """A fenced block showing `lines` verbatim: fence longer than any backtick run inside, and each
    line :func:`terminal_safe` (so a CR or newline inside a line cannot start another)."""
    safe = [terminal_safe(line) for line in lines]
    fence = "`" * max(3, _longest_backticks("\n".join(safe)) + 1)
    return "\n".join([fence, *safe, fence])
