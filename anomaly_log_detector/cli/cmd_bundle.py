"""`alog-detect bundle-info`: verify a model bundle and print what it holds."""

from __future__ import annotations

import click

from anomaly_log_detector.reports.escape import terminal_safe


@click.command("bundle-info")
@click.option("--model-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Bundle folder written by `train` or `train-incremental`.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole metadata.json (after verification).")
def bundle_info_command(model_dir, as_json):
    """Verify every checksum of a bundle and print its key facts (exit 2 if anything is wrong)."""
    import json

    from anomaly_log_detector.workflows.compare import format_columns, model_facts
    from anomaly_log_detector.workflows.model import load_bundle

    model = load_bundle(model_dir)
    if as_json:
        click.echo(json.dumps(model.metadata, indent=1))  # ASCII: no raw control or bidi character reaches the terminal
        return
    facts = {label: {"v": value} for label, value in model_facts(model).items()}
    files = model.metadata["files"]
    facts["files"] = {"v": ", ".join(f"{name} ({entry['size']:,} B)" for name, entry in sorted(files.items()))}
    click.echo(terminal_safe(format_columns({"v": str(model_dir)}, facts), multiline=True))
    click.echo(f"verified: {len(files)} files match their sha256")
    for warning in model.metadata.get("warnings") or []:
        click.echo(terminal_safe(f"WARNING: {warning}"))


COMMANDS = [bundle_info_command]
