"""TemplateIndex.nearest is the brute-force word Jaccard, ties going to the first template."""

import numpy as np

from anomaly_log_detector.detectors import similarity
from anomaly_log_detector.detectors.similarity import TemplateIndex, words


def _brute(templates, text):
    ws, top, at = words(text), 0.0, -1
    for i, t in enumerate(templates):
        common = len(ws & words(t))
        if common and common / len(ws | words(t)) > top:
            top, at = common / len(ws | words(t)), i
    return top, at


def test_nearest_is_the_brute_force_jaccard(monkeypatch):
    rng = np.random.default_rng(7)
    vocab = ["alpha", "beta", "gamma", "delta", "port", "state", "entered", "error", "disk", "full"]
    templates = [" ".join(rng.choice(vocab, rng.integers(1, 5))) + " <NUM>" for _ in range(40)]
    templates += [templates[5], "", "<*> 12"]  # a duplicate (a tie) and templates without words
    texts = [" ".join(rng.choice(vocab + ["zzz"], rng.integers(0, 6))) for _ in range(500)] + ["", "<IP>"]
    monkeypatch.setattr(TemplateIndex, "BLOCK", 64)  # several blocks of distinct texts
    sim, at = TemplateIndex(templates).nearest(texts)
    want = [_brute(templates, t) for t in texts]
    assert sim.tolist() == [w[0] for w in want] and at.tolist() == [w[1] for w in want]
    assert sim.dtype == np.float64 and at.dtype == np.int64
    empty = TemplateIndex([]).nearest(texts[:3])
    assert empty[0].tolist() == [0.0] * 3 and empty[1].tolist() == [-1] * 3
    assert TemplateIndex(templates).nearest([])[0].shape == (0,)
    assert similarity.words("Error: <NUM> disk-full x") == frozenset({"error", "disk-full"})
