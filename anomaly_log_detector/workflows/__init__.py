"""End-to-end workflows over a model bundle ("train once, infer anywhere"), one job per module.

* :mod:`.settings` — every training default (one frozen dataclass).
* :mod:`.model` — the trained model in memory and its bundle folder (`save_bundle` / `load_bundle`).
* :mod:`.detect` — run a model's detectors over a processed folder (parsed lines -> result files).
* :mod:`.holdout` — the held-out tail of the training data and its false-alarm measurement.
* :mod:`.train` — parse normal logs, train the baseline and DeepLog, write the bundle.
* :mod:`.incremental` / :mod:`.finetune` — continue a bundle on new normal logs.
* :mod:`.infer` — parse a target with the bundle's frozen templates, detect, report; exit status.
* :mod:`.paths` — where results may be written (output-folder guard) and their staged swap-in.
* :mod:`.validate` — a 0-100 quality score with its components.
* :mod:`.compare` — two bundles side by side.
* :mod:`.batch` — one file of a folder against the others (its comparative statistics: analyzers/comparative.py).

The shell scripts at the repository root chain the `alog-detect` commands that wrap these functions.
"""
