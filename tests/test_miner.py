"""Template miner: learning, frozen matching, exact JSON state, refusal of foreign/unsafe state files,
and a parsing-accuracy floor on real Loghub data."""

from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pyarrow as pa
import pytest

from anomaly_log_detector.config import DrainConfig
from anomaly_log_detector.errors import StateError
from anomaly_log_detector.parsing.masking import Masker
from anomaly_log_detector.parsing.miner import TemplateMiner, tokenize
from anomaly_log_detector.parsing.state import STATE_FORMAT, checksum
from anomaly_log_detector.fileio.schema import UNSEEN_ID
from helpers import REPO, shared_data


def _bench():
    spec = importlib.util.spec_from_file_location("parsing_accuracy", REPO / "benchmarks" / "parsing_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unique_masked(system: str) -> list[str]:
    """Masked contents of a Loghub 2k system, distinct, in first-occurrence order (as the pipeline learns)."""
    bench = _bench()
    path = shared_data("loghub_2k", system, "corrected", f"{system}_2k.log")
    contents = bench.local_contents(path.read_text(encoding="utf-8").splitlines(), bench.LOG_FORMATS[system])
    masked = Masker.from_file().mask_array(pa.array(contents)).to_pylist()
    return list(dict.fromkeys(masked))


def test_tokenize_splits_on_ascii_whitespace_only():
    assert tokenize(" a\u00a0b \tc\r\nd\x0be\x0cf  ") == ["a\u00a0b", "c", "d", "e", "f"]
    assert tokenize("k=v;x", ["=", ";"]) == ["k", "v", "x"]
    assert tokenize("   ") == []


def test_learn_groups_generalizes_and_counts():
    miner = TemplateMiner()
    msgs = ["session opened for user <NUM> by root", "session opened for user <NUM> by alice",
            "disk sda failed", "session opened for user <NUM> by root", ""]
    ids = miner.learn(msgs, counts=[3, 1, 2, 4, 1])
    assert ids.dtype == np.int64 and ids.tolist() == [1, 1, 2, 1, 3]
    assert miner.templates() == {1: "session opened for user <NUM> by <*>", 2: "disk sda failed", 3: ""}
    assert miner.sizes() == {1: 8, 2: 2, 3: 1} and len(miner) == 3
    miner.add_counts([2], [5])
    assert miner.sizes()[2] == 7
    with pytest.raises(ValueError):
        miner.learn(["x"], counts=[0])
    with pytest.raises(ValueError):
        miner.add_counts([99], [1])


def test_masks_of_different_kinds_share_a_slot():
    # Drain alone keeps "<HEX>" and "<NUM>" apart (different words, different tree branches).
    miner = TemplateMiner()
    ids = miner.learn(["iar <HEX> dear <NUM>", "iar <NUM> dear <HEX>", "iar <ID> dear <NUM>"])
    assert len(set(ids.tolist())) == 1
    assert miner.templates()[int(ids[0])] == "iar <*> dear <*>"
    # ...but plain words in that slot still make a new template.
    assert miner.learn(["iar foo dear bar"])[0] != ids[0]


def test_learning_is_deterministic():
    msgs = _unique_masked("Linux")
    a, b = TemplateMiner(), TemplateMiner()
    assert a.learn(msgs).tolist() == b.learn(msgs).tolist()
    assert a.to_state() == b.to_state()


@pytest.mark.parametrize("system", ["OpenSSH", "Hadoop"])
def test_save_load_then_continue_equals_learning_in_one_go(tmp_path, system):
    msgs = _unique_masked(system)
    half = len(msgs) // 2
    whole = TemplateMiner()
    ids_whole = whole.learn(msgs)

    first = TemplateMiner()
    ids_a = first.learn(msgs[:half])
    first.save(tmp_path / "state.json")
    loaded = TemplateMiner.load(tmp_path / "state.json")
    assert loaded.to_state() == first.to_state()
    ids_b = loaded.learn(msgs[half:])

    assert np.concatenate([ids_a, ids_b]).tolist() == ids_whole.tolist()
    assert loaded.templates() == whole.templates() and loaded.sizes() == whole.sizes()
    assert loaded.match(msgs).tolist() == whole.match(msgs).tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


def _hand_state(templates: list[str]) -> dict:
    """A valid state holding exactly these templates (all of the same length, one tree leaf)."""
    n = len(templates[0].split(" "))
    state = {"format": STATE_FORMAT, "version": 1, "config": DrainConfig().to_dict(),
             "clusters": [{"id": i + 1, "template": t, "size": 1} for i, t in enumerate(templates)],
             "tree": {"children": {str(n): {"children": {}, "clusters": list(range(1, len(templates) + 1))}},
                      "clusters": []}}
    state["checksum"] = checksum(state)
    return state


def test_frozen_matching_rules():
    miner = TemplateMiner.from_state(_hand_state(["a <*> c d", "a b c d", "<*> b <*> d", "x <*> <*> d"]))
    before = miner.to_state()
    got = miner.match(["a b c d",      # 1, 2, 3 match: most literal tokens wins -> 2
                       "a z c d",      # only 1
                       "q b q d",      # only 3
                       "a b c",        # different token count -> unseen
                       "a  z\tc d",    # same tokens as "a z c d"
                       "x b y d",      # 3 and 4 match with 2 literals each: lowest id -> 3
                       "a z c d"])
    assert got.tolist() == [2, 1, 3, UNSEEN_ID, 1, 3, 1]
    assert miner.to_state() == before  # matching never changes state
    assert TemplateMiner().match(["anything"]).tolist() == [UNSEEN_ID]


def test_frozen_matching_treats_masks_of_any_kind_alike():
    miner = TemplateMiner.from_state(_hand_state(["iar <HEX> dear rhost=<IP>", "iar <*> dear done"]))
    got = miner.match(["iar <NUM> dear rhost=<HOST>", "iar 12 dear rhost=<IP>", "iar <NUM> dear done",
                       "iar <NUM> dear rhost=x"])
    assert got.tolist() == [1, UNSEEN_ID, 2, UNSEEN_ID]


def test_frozen_matching_finds_what_learning_made():
    msgs = _unique_masked("Zookeeper")
    miner = TemplateMiner()
    miner.learn(msgs)
    matched = miner.match(msgs)
    templates = miner.templates()
    assert (matched != UNSEEN_ID).all()
    for msg, cid in zip(msgs, matched.tolist()):
        tpl = templates[cid].split(" ")
        assert len(tpl) == len(tokenize(msg))
        assert all(t in ("<*>", m) for t, m in zip(tpl, tokenize(msg)))


def test_drain3_jsonpickle_state_is_refused_without_decoding(tmp_path):
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.file_persistence import FilePersistence
    from drain3.template_miner_config import TemplateMinerConfig

    for compress in (True, False):
        path = tmp_path / f"drain3_{compress}.bin"
        cfg = TemplateMinerConfig()  # explicit: never read a drain3.ini
        cfg.snapshot_compress_state = compress
        d3 = Drain3Miner(FilePersistence(str(path)), config=cfg)
        for msg in ("user alice logged in", "user bob logged in", "disk full"):
            d3.add_log_message(msg)
        assert path.stat().st_size > 0
        with pytest.raises(StateError, match=re.escape(str(path)) + ".*(jsonpickle|Drain3)"):
            TemplateMiner.load(path)


def _saved(tmp_path) -> tuple:
    miner = TemplateMiner()
    miner.learn(["user <NUM> logged in", "user <NUM> logged out", "disk full"])
    path = tmp_path / "state.json"
    miner.save(path)
    return path, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["clusters"][0].update(template="user <*> owned in"), "checksum mismatch"),
    (lambda d: d.update(format="something-else"), "not a template state"),
    (lambda d: d.update(version=2), "unsupported state version 2"),
    (lambda d: d.pop("tree"), "missing ['tree']"),
])
def test_tampered_or_foreign_state_is_refused(tmp_path, edit, message):
    path, state = _saved(tmp_path)
    edit(state)
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(StateError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        TemplateMiner.load(path)


def test_bad_types_with_a_valid_checksum_are_refused(tmp_path):
    path, state = _saved(tmp_path)
    state["clusters"][1]["size"] = True  # a bool is not a size
    state["checksum"] = checksum(state)
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(StateError, match="cluster #1 must be"):
        TemplateMiner.load(path)
    state["clusters"][1]["size"] = 1
    state["tree"]["children"]["4"]["clusters"].append(3)  # cluster 3 twice in the tree
    state["checksum"] = checksum(state)
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(StateError, match="exactly once"):
        TemplateMiner.load(path)


def test_truncated_missing_and_non_json_files(tmp_path):
    path, _ = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StateError, match="not JSON"):
        TemplateMiner.load(path)
    with pytest.raises(StateError, match="cannot read template state"):
        TemplateMiner.load(tmp_path / "missing.json")


@pytest.mark.parametrize("system, floor", [("OpenSSH", 0.98), ("HDFS", 0.99)])
def test_grouping_accuracy_floor_on_loghub(system, floor):
    # Measured with the default rules.json + DrainConfig: OpenSSH 0.996, HDFS 1.0 (plain Drain3: 0.72, 0.998).
    bench = _bench()
    path = shared_data("loghub_2k", system, "corrected", f"{system}_2k.log")
    lines, truth = bench.load_system(path.parent.parent.parent, system)
    ids, templates = bench.ours_local(bench.local_contents(lines, bench.LOG_FORMATS[system]), None)
    assert bench.scores(ids, templates, truth)["GA"] >= floor
