"""Masking rules: what the default rules mask, RE2 == Python on real lines, rule validation."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest

from anomaly_log_detector.errors import RulesError
from anomaly_log_detector.parsing.masking import DEFAULT_RULES, FLAG_GROUPS, Masker, MaskRule
from helpers import REPO, shared_data

SYSTEMS = ("Apache", "BGL", "HDFS", "Hadoop", "Linux", "OpenSSH", "Spark", "Zookeeper")


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker.from_file()


@pytest.mark.parametrize("text, expected", [
    ("Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
     "Received block <NUM> of size <NUM> from <IP>"),
    ("Accepted password for root from 173.234.31.186 port 38926 ssh2",
     "Accepted password for root from <IP> port <NUM> ssh2"),
    ("authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=n219076184117.netvigator.com",
     "authentication failure; logname= uid= <NUM> euid= <NUM> tty= NODEVssh ruser= rhost= <HOST>"),
    ("workerEnv.init() ok /etc/httpd/conf/workers2.properties", "workerEnv.init() ok <PATH>"),
    ("Connecting to http://msra-sa-41:8088/ws/v1?q=1 now", "Connecting to <URL> now"),
    ("instance 6c3a8f4e-5b1d-4f2a-9c3e-0d7e8f9a1b2c deleted", "instance <UUID> deleted"),
    # The original toolkit's named masks stay (and their --no-mask-<group> flags work); the general
    # `variable` rule after them takes every other token holding digits.
    ("eth0: link up, MAC 00:1a:2b:3c:4d:5e", "<DEV>: link up, MAC <MAC>"),
    ("iar 00105c4c dear 0x1f", "iar <HEX> dear <HEX>"),
    ("sd 2:0:0:0: [sda] Attached SCSI disk, sda1 mounted", "sd <DEV>: [<DEV>] Attached SCSI disk, <DEV> mounted"),
    ("Killed process 4242 (java), sshd[1201] pid=77", "Killed process <NUM> (java), sshd[<PID>] pid= <PID>"),
    ("connection from 1.2.3.4 () at Sun Jul 10 03:55:15 2005", "connection from <IP> () at <DATE>"),
    ("headroom=<memory:10240, vCores:-17>", "headroom= <memory:<NUM>, vCores:<NUM>>"),
    ("BLOCK* ask 10.0.0.1:50010 to delete blk_1 blk_22 blk_-333", "BLOCK* ask <IP>:<NUM> to delete <SEQ>"),
    ("jk2_init() Found child 6725 in scoreboard slot 10", "jk2_init() Found child <NUM> in scoreboard slot <NUM>"),
    ("Starting ssh2 and log4j on x86_64", "Starting ssh2 and log4j on <NUM>"),
    # Versions and Debian package names (name:arch), sizes with their unit, glued durations.
    ("status installed libc6:amd64 2.36-9", "status installed <SEQ>"),
    ("install tzdata:all <none> 2024a-0+deb12u1", "install <NUM> <none> <NUM>"),
    ("Upgrading from 1.2.3~rc1 to 1:2.39.5-0+deb12u2", "Upgrading from <NUM> to <NUM>"),
    ("wrote 12 MiB in 3.5s, then 4KB in 12ms", "wrote <NUM> in <NUM>, then <NUM> in <NUM>"),
    # Quoted strings (an apostrophe inside a word opens nothing); IPv6; a version is not an IPv4.
    ("can't open 'my file.txt' or \"a b\"", "can't open '<STR>' or \"<STR>\""),
    ("from ::1 port 22 and fe80::c6b3:1ff:fecd:467f", "from <NUM> port <NUM> and <NUM>"),
    ("unpack 1.2.5.1-2 from 10.0.0.1:80", "unpack <NUM> from <IP>:<NUM>"),
    # A quoted value after "=" or ":" is left alone (logfmt msg="...", JSON "key":"value": often the message).
    ('level=info msg="Starting server" port=8080 {"k":"v w"}', 'level= info msg= "Starting server" port= <NUM> {"k":"v w"}'),
    # A kernel time stamp is one token however it is padded.
    ("[    1.234567] usb 2-1.4: new device", "<NUM> usb <NUM>: new device"),
    # Words glued to a number by a run of dots or a dot keep the word.
    ("generating core.1234 at instruction......0", "generating core.<NUM> at instruction......<NUM>"),
])
def test_default_rules_mask_variables_and_keep_constants(masker, text, expected):
    assert masker.mask(text) == expected
    assert masker.mask_array(pa.array([text])).to_pylist() == [expected]


def _loghub_lines() -> list[str]:
    lines: list[str] = []
    for system in SYSTEMS:
        path = shared_data("loghub_2k", system, "corrected", f"{system}_2k.log")
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def test_vectorized_equals_python_reference_on_real_lines(masker):
    lines = _loghub_lines()
    # Twice as many distinct lines as one thread slice takes, so the threaded path runs too.
    lines += [line.replace("1", "7").replace("a", "e") + " tail" for line in lines]
    odd = ["", "   ", "\t\x0bx=1\x0b", "naïve café 12 ünïcode=ß9 /tmp/é", "ÿ0x12 0X1F", None]
    data = lines + odd
    vectorized = masker.mask_array(pa.chunked_array([pa.array(data[:1000]), pa.array(data[1000:])]))
    reference = [None if s is None else masker.mask(s) for s in data]
    diffs = [(s, v, r) for s, v, r in zip(data, vectorized.to_pylist(), reference) if v != r]
    assert not diffs, diffs[:5]
    assert len(vectorized) == len(data)


def test_every_default_rule_changes_some_real_line(masker):
    texts = pa.array(_loghub_lines())
    quiet = []
    for rule in masker.rules:  # in order: a rule sees what the earlier ones left
        masked = Masker([rule]).mask_array(texts)
        if masked.equals(texts) and rule.group not in ("uuid", "mac"):  # absent from these eight systems
            quiet.append(rule.name)
        texts = masked
    assert quiet == []


def test_disabled_groups_and_round_trip(masker):
    text = "from 10.0.0.1 port 22 file /var/log/x"
    no_ips = Masker.from_file(disabled_groups=["ips"])
    assert no_ips.mask(text) == "from <NUM> port <NUM> file <PATH>"  # digits still go to the num rule
    assert all(r.group != "ips" for r in no_ips.rules)
    assert len(Masker.from_file(disabled_groups=FLAG_GROUPS).rules) < len(masker.rules)
    again = Masker.from_list(masker.to_list())
    assert again.rules == masker.rules and again.mask(text) == masker.mask(text)
    assert json.loads(json.dumps(masker.to_list())) == masker.to_list()
    with pytest.raises(RulesError, match="unknown mask group"):
        Masker.from_file(disabled_groups=["ipz"])


def test_repo_root_rules_json_is_the_packaged_file():
    root = REPO / "rules.json"
    assert root.is_symlink() and root.resolve() == DEFAULT_RULES.resolve()


def _rule(**kw) -> dict:
    return {"name": "r", "group": "num", "pattern": r"\d+", "mask": "<NUM>", **kw}


@pytest.mark.parametrize("rules, message", [
    ({"name": "x"}, "JSON list"),
    (["nope"], "rule 0: expected an object"),
    ([_rule(), _rule(name="extra", colour="red")], "rule 1 ('extra'): unknown key"),
    ([{"name": "m", "group": "num", "pattern": "x"}], "rule 0 ('m'): missing key 'mask'"),
    ([_rule(pattern="")], "empty pattern"),
    ([_rule(name="star", pattern=r"\d*")], "rule 0 ('star'): pattern '\\\\d*' can match the empty string"),
    ([_rule(name="bound", pattern=r"\b")], "can match the empty string"),
    ([_rule(name="paren", pattern="(")], "rule 0 ('paren'): pattern does not compile"),
    ([_rule(), _rule(name="look", pattern=r"(?<=a)b")], "rule 1 ('look'): not accepted by RE2"),
    ([_rule(name="backref", pattern=r"(a)\1")], "rule 0 ('backref'): not accepted by RE2"),
    ([_rule(name="ref", pattern=r"(a)b", mask=r"\2")], r"only \1..\1 (groups of the pattern)"),
    ([_rule(name="slash", mask="a\\b")], "may hold no backslash"),
    ([_rule(name="space", pattern=r"a\sb")], r"\s/\S differ"),
    ([_rule(name="case", pattern=r"(?i)pid")], "(?i) folds"),
    ([_rule(pattern=5)], "'pattern' must be a string"),
])
def test_invalid_rules_are_refused_with_the_rule_named(rules, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        Masker.from_list(rules)


def test_rules_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(RulesError, match=r"cannot read rules file \S*none\.json"):
        Masker.from_file(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(RulesError, match="bad.json is not valid JSON"):
        Masker.from_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([_rule(name="look", pattern="(?=x)y")]), encoding="utf-8")
    with pytest.raises(RulesError, match=r"wrong.json: rule 0 \('look'\)"):
        Masker.from_file(wrong)


def test_group_references_in_masks_agree_between_engines():
    m = Masker([MaskRule("kv", "tokens", r"(\w+)=(\d+)", r"\1=<NUM>\2")])
    text = "a=1 bb=22 c=x"
    assert m.mask(text) == "a=<NUM>1 bb=<NUM>22 c=x"
    assert m.mask_array(pa.array([text])).to_pylist() == [m.mask(text)]
