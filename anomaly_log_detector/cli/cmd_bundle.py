"""`alog-detect bundle-info`: verify a model bundle and print what it holds."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import echo_json, json_option, lang_option, output_options, say
from anomaly_log_detector.reports.escape import terminal_safe


@click.command("bundle-info")
@click.option("--model-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Bundle folder written by `train` or `train-incremental`.")
@json_option(help="Print the whole metadata.json (after verification) as one JSON object on stdout.")
@lang_option
@output_options
def bundle_info_command(model_dir, as_json, lang):
    """Verify every checksum of a bundle and print its key facts (exit 2 if anything is wrong)."""
    from anomaly_log_detector.workflows.compare import format_columns, model_facts
    from anomaly_log_detector.workflows.model import load_bundle

    model = load_bundle(model_dir)
    if as_json:
        echo_json(model.metadata)  # ASCII: no raw control or bidi character reaches the terminal
        return
    facts = {label: {"v": value} for label, value in model_facts(model, lang).items()}
    files = model.metadata["files"]
    facts["files"] = {"v": ", ".join(f"{name} ({entry['size']:,} B)" for name, entry in sorted(files.items()))}
    say(terminal_safe(format_columns({"v": str(model_dir)}, facts, lang=lang), multiline=True))
    say(f"verified: {len(files)} files match their sha256")
    for warning in model.metadata.get("warnings") or []:
        click.echo(terminal_safe(f"WARNING: {warning}"))


COMMANDS = [bundle_info_command]
