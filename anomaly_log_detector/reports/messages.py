"""The one message table: every sentence a report shows goes through :func:`t`.

Keys are stable identifiers (also stored in the result table as the `key` of each reason, so a reason
can be re-rendered in another language later); values are ``str.format`` templates over named params.
Adding a language is adding one dict to ``MESSAGES`` with the same keys (a test checks they match).
Params that come from logs or file names (sessions, templates, paths) are formatted by the caller for
its output (reports/escape.py: a code span in Markdown); a template never quotes them itself.
"""

from __future__ import annotations

from anomaly_log_detector.errors import AlogError

_EN: dict[str, str] = {
    # reasons: why a line was flagged (params come from the detectors' result files)
    "reason.novel_template":
        "The message matches no template learned in training (`<UNSEEN>`): a kind of line never seen before.",
    "reason.deeplog_miss":
        "DeepLog did not expect this template after the preceding ones: it ranked {rank} among the possible "
        "next templates (probability {prob:.4f}), outside the candidates it accepts.",
    "reason.deeplog_surprise":
        "DeepLog did not expect this template after the preceding ones of {session}: a next template this "
        "unlikely or less has probability {tail:.1e} (surprise {surprise:.1f}, above what held-out normal "
        "lines needed).",
    "reason.alert_line":
        "Line alert (score {score:.2f}): severity {severity:.1f}; message {novelty:.0%} new (nearest known "
        "template: {nearest}); out of sequence: {seq_miss}.",
    "reason.deeplog_novel":
        "DeepLog never saw this template as an event in training, so it cannot be an expected next event.",
    "reason.deeplog_eos":
        "DeepLog expected more events after this line: the session ends here unexpectedly (the end ranked "
        "{rank}, probability {prob:.4f}).",
    "reason.deeplog_session":
        "DeepLog flagged session {session} ({misses} unexpected events in {windows} predictions); "
        "this is its first unexpected event.",
    "reason.baseline_evidence":
        "The baseline flagged lines {start}-{end} (window score {score:.3f}) and names this line as evidence "
        "(a new template, an error level, or a template far more frequent than in training).",
    "reason.baseline_window":
        "The baseline flagged lines {start}-{end} (window score {score:.3f}); this is one of the rarest lines "
        "in the window (its template occurs {count} times in this file).",
    "reason.mscred_window":
        "MS-CRED flagged lines {start}-{end}: their template correlations broke ({broken} broken entries, "
        "window score {score:.2f} above its threshold {threshold:.2f}); this line's template is among the "
        "most responsible: {top_templates}.",
    # explanations in the sample analysis
    "explain.expected": "Expected next templates (most likely first): {expected}.",
    "explain.actual": "Actual template of line {line}: {template}.",
    "explain.components": "Window score components: {components}.",
    "explain.context": "{before} line(s) before and {after} after; the flagged line(s) are marked with >>.",
    # does the target fit the bundle? (workflows/fit_check.py)
    "fit.format":
        "the log format differs from the training logs (format `{format}`): {share:.0%} of the lines have no "
        "header that format matches",
    "fit.format_guess": " (the target looks like format `{guess}`)",
    "fit.unseen":
        "most messages match no training template: a log of another system or service? ({share:.0%} of the "
        "lines are unseen, {held})",
    "fit.held": "against {share:.1%} of the held-out normal training lines",
    "fit.no_held": "and the bundle has no held-out lines to compare with",
    "fit.and": "; and ",
    "fit.warning":
        "This log does not fit the model: {reasons}. Nearly every line then looks anomalous, so the findings "
        "mostly show this mismatch rather than faults. Analyse it with a bundle trained on normal logs of the "
        "same system and format (train with the right --format or --log-format).",
    # inputs that were not (wholly) read (workflows/infer.py): a banner of the report, plain text
    "warning.source_errors":
        "{n} input file(s) could not be read to the end (damaged or cut short); only the lines before the damage "
        "were analysed: {errors}",
    "warning.skipped": "Not every input was read: {note}.",
    "warning.more": "... ({n} more in {file})",
    # report headings and labels
    "report.title": "Anomaly report",
    "report.warning": "WARNING",
    "report.generated": "Folder: {dir}. Generated {time}.",
    "report.summary": "Summary",
    "report.lines": "Parsed lines",
    "report.sources": "Sources",
    "report.templates": "Templates",
    "report.unseen": "Unseen lines (`<UNSEEN>`)",
    "report.anomalies": "Anomalies (result-table records)",
    "report.multi": "Records flagged by 2 or more detectors",
    "report.per_detector": "Anomalies per detector",
    "report.detector": "Detector",
    "report.records": "Records",
    "report.flagged_lines": "Flagged lines",
    "report.top": "Top {n} anomalies",
    "report.none": "No anomalies were found.",
    "report.record_head": "#{rank} score {score:.3f} [{detectors}] {source} line(s) {lines}",
    "report.record_meta": "Time {time}, host {host}, process {process}.",
    "report.record_span": "Incident of {entity}: {n} flagged line(s) from {first} to {last}.",
    "report.record_training": "This template occurred {count} time(s) in training.",
    "report.record_training_new": "This template never occurred in training.",
    "report.record_expected": "Expected instead: {expected}.",
    "report.more_lines": "... and {n} more line(s).",
    "report.windows": "Top baseline windows",
    "report.mscred_analysis":
        "MS-CRED flagged {n} window(s): the templates most responsible, residual heatmaps and raw lines are in "
        "{link}.",
    "report.window_row": "lines {start}-{end}: score {score:.3f}{components}",
    "report.dominant": "Dominant templates",
    "report.count": "Count",
    "report.share": "Share",
    "report.template": "Template",
    "report.agreement": "Agreement between detectors",
    "report.agreement_note": "Over the lines each detector put in the result table; Jaccard = both / either.",
    "report.pair": "Pair",
    "report.both": "Both",
    "report.either": "Either",
    "report.jaccard": "Jaccard",
    "report.samples_link": "Log samples with context: {path}",
    "comparative.title": "Target against its baseline",
    "comparative.intro":
        "Target {target} ({target_lines} lines) against the {baseline_lines} baseline lines the model was "
        "trained on. Shares are of each side's own lines; ratio = target share / baseline share.",
    "comparative.only_target": "Templates only in the target",
    "comparative.changed": "Largest frequency changes",
    "comparative.missing": "Frequent baseline templates absent from the target",
    "comparative.first_line": "First line",
    "comparative.baseline_share": "Baseline share",
    "comparative.target_share": "Target share",
    "comparative.ratio": "Ratio",
    "samples.title": "Anomalous log samples",
    "samples.intro": "The top {n} anomalies of {dir} with {context} line(s) of context.",
    "samples.sample": "Sample {rank}: {source} line(s) {lines}",
    "samples.why": "Why it was flagged",
    "samples.lines": "Lines",
}

MESSAGES: dict[str, dict[str, str]] = {"en": _EN}
LANGUAGES = tuple(MESSAGES)


class LanguageError(AlogError):
    """A report language that the message table does not have."""


def check_lang(lang: str) -> str:
    """`lang` if the table has it, else LanguageError naming the available ones."""
    if lang not in MESSAGES:
        raise LanguageError(f"unknown report language {lang!r} (available: {', '.join(LANGUAGES)})")
    return lang


def t(key: str, lang: str = "en", **params: object) -> str:
    """The message `key` in `lang`, formatted with `params` (KeyError for an unknown key: a bug)."""
    return MESSAGES[check_lang(lang)][key].format(**params)
