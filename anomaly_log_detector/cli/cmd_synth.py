"""`alog-detect gen-synth`: a synthetic kernel/system log with labelled anomalies."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import FINITE_FLOAT, output_options, say, seed_option


@click.command("gen-synth")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Log file to write (gzip when it ends with .gz); labels go to OUT.labels.parquet.")
@click.option("--lines", type=int, default=100_000, show_default=True, help="Number of log lines (>= 1).")
@click.option("--anomaly-rate", type=FINITE_FLOAT, default=0.05, show_default=True,
              help="Share of lines that belong to injected anomalies, in [0, 1); 0 = a clean training log.")
@seed_option()
@click.option("--format", "fmt", type=click.Choice(["syslog", "rfc5424"]), default="syslog", show_default=True,
              help="Header format: syslog = RFC 3164 (`Mar  1 00:00:01 host proc[pid]: msg`), "
                   "rfc5424 = `<pri>1 ISO-time host app pid - - msg`.")
@click.option("--anomaly-types", default=None, metavar="KIND,...",
              help="Anomaly kinds to inject, comma-separated, the rate split evenly over them: unseen, burst, "
                   "reordered, error_storm (the default four) and correlation_break (service runs that start "
                   "and never finish, for 20-60 s: templates that move together come apart).")
@output_options
def gen_synth_command(out_path, lines, anomaly_rate, seed, fmt, anomaly_types):
    """Generate a synthetic log: normal sessions, cron jobs and daemons, plus unseen, burst,
    reordered and error_storm anomalies, with per-line labels."""
    from anomaly_log_detector.synth import generate_synthetic_log

    s = generate_synthetic_log(out_path, lines, anomaly_rate, seed=seed, fmt=fmt, anomaly_types=anomaly_types)
    by_type = ", ".join(f"{k} {v:,}" for k, v in s["anomalous_lines_by_type"].items())
    say(f"lines: {s['lines']:,} ({s['format']}, seed {s['seed']}); anomalous: {s['anomalous_lines']:,}"
        + (f" ({by_type})" if s["anomalous_lines"] else ""))
    say(f"wrote {s['log']}")
    say(f"wrote {s['labels']}")


COMMANDS = [gen_synth_command]
