"""The library facade: what the CLI and the shell workflows call.

Each function takes plain arguments, does one job end to end and returns a summary dict. The facade
only re-exports: nothing in the package imports it (data flows one way, from here down).
"""

from __future__ import annotations

from typing import Iterable

from anomaly_log_detector.parsing.run import parse_logs

__all__ = ["parse_logs", "save_bundle", "load_bundle", "train_model", "infer_logs", "validate_model",
           "compare_models", "train_incremental", "batch_analysis", "write_reports", "analyze_temporal",
           "analyze_comparative", "validate_baseline"]


# ---- model bundles and the end-to-end workflows (anomaly_log_detector.workflows) ----------------
def save_bundle(model, model_dir: str, overwrite: bool = False):
    """Write a `workflows.model.TrainedModel` as a checksummed bundle folder, atomically; return its path."""
    from anomaly_log_detector.workflows.model import save_bundle as _save

    return _save(model, model_dir, overwrite=overwrite)


def load_bundle(model_dir: str):
    """Open, verify (checksums, schema version) and load a bundle into a `TrainedModel`; runs no code
    from the folder."""
    from anomaly_log_detector.workflows.model import load_bundle as _load

    return _load(model_dir)


def train_model(inputs: str | Iterable[str], model_dir: str, *, overwrite: bool = False, **settings) -> dict:
    """Train a bundle on normal logs (`alog-detect train`); `settings` are `TrainSettings` fields."""
    from anomaly_log_detector.workflows.settings import TrainSettings
    from anomaly_log_detector.workflows.train import train_model as _train

    return _train(inputs, model_dir, TrainSettings().with_overrides(**settings), overwrite=overwrite)


def infer_logs(model_dir: str, inputs: str | Iterable[str], out_dir: str, *, top: int = 20,
               quiet: bool = True, year: int | None = None, tz: str | None = None,
               threads: int | None = None, lang: str = "en", since=None, until=None) -> dict:
    """Analyse target logs with a bundle (`alog-detect infer`); the summary's `exit_status` is 0 or 1.
    `since`/`until` (aware datetimes) keep only the lines of that range; `lang` is the reports' language."""
    from anomaly_log_detector.workflows.infer import infer_logs as _infer

    return _infer(model_dir, inputs, out_dir, top=top, quiet=quiet, year=year, tz=tz, threads=threads, lang=lang,
                  since=since, until=until)


def validate_model(model_dir: str, validation_log: str | None = None, out_dir: str | None = None) -> dict:
    """The 0-100 quality score of a bundle with its components (`alog-detect validate`)."""
    from anomaly_log_detector.workflows.validate import validate_model as _validate

    return _validate(model_dir, validation_log, out_dir)


def compare_models(model_a: str, model_b: str, test_log: str | None = None, out_dir: str | None = None) -> dict:
    """Two bundles side by side, and on a test log when given (`alog-detect compare`)."""
    from anomaly_log_detector.workflows.compare import compare_models as _compare

    return _compare(model_a, model_b, test_log, out_dir)


def train_incremental(old_model_dir: str, inputs: str | Iterable[str], model_dir: str, **options) -> dict:
    """Continue a bundle on new normal logs (`alog-detect train-incremental`); options: epochs, lr,
    holdout, seed, overwrite, quiet."""
    from anomaly_log_detector.workflows.incremental import train_incremental as _incremental

    return _incremental(old_model_dir, inputs, model_dir, **options)


def batch_analysis(log_dir: str, target: str, out_dir: str, *, enhanced: bool = False, **settings) -> dict:
    """Train on a folder's other files and analyse `target` (`alog-detect batch-analysis`)."""
    from anomaly_log_detector.workflows.batch import batch_analysis as _batch
    from anomaly_log_detector.workflows.settings import TrainSettings

    return _batch(log_dir, target, out_dir, settings=TrainSettings().with_overrides(**settings), enhanced=enhanced)


# ---- reports and analyses (anomaly_log_detector.analyzers, anomaly_log_detector.workflows.reporting) --
def write_reports(processed_dir: str, **options) -> dict:
    """Result table, analyses and reports (Markdown, JSON, HTML) of a processed folder, linked together."""
    from anomaly_log_detector.workflows.reporting import write_reports as _write

    return _write(processed_dir, **options)


def analyze_temporal(data_dir: str, output_dir: str, **options) -> dict:
    """Hour-of-day / weekday profiles of a processed folder against normal data (`alog-detect analyze-temporal`)."""
    from anomaly_log_detector.analyzers.temporal import analyze_temporal as _temporal

    return _temporal(data_dir, output_dir, **options)


def analyze_comparative(target: str, baselines: list[str], output_dir: str = "comparative_analysis", **options) -> dict:
    """Template distributions of a target against baselines (`alog-detect analyze-comparative`)."""
    from anomaly_log_detector.analyzers.comparative import analyze_comparative as _comparative

    return _comparative(target, baselines, output_dir, **options)


def validate_baseline(paths: list[str], output_dir: str | None, **options) -> dict:
    """Vet candidate normal log files before training (`alog-detect validate-baseline`)."""
    from anomaly_log_detector.analyzers.baseline_validation import validate_baseline as _validate

    return _validate(paths, output_dir, **options)
