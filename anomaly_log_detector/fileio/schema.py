"""Column names and constants shared by every stage (the `parsed.parquet` contract).

`parsed.parquet` has one row per parsed input line, in input order:

| column       | type                 | meaning                                                        |
|--------------|----------------------|----------------------------------------------------------------|
| line_no      | int64                | 1-based line number within its source (blank/skipped lines count) |
| source       | string               | path of the source file (`-` for stdin)                        |
| timestamp    | timestamp[us, UTC]   | parsed header time, null when absent or unparseable            |
| host         | string (nullable)    | host / node name from the header                               |
| process      | string (nullable)    | process or component                                           |
| pid          | string (nullable)    | process id as written                                          |
| level        | string (nullable)    | severity / level as written                                    |
| session      | string (nullable)    | first match of --session-regex in the raw line                 |
| raw          | string               | the raw line (decoded, without line ending, maybe truncated)   |
| content      | string               | the message part after the header                              |
| masked       | string               | content after masking rules                                    |
| template_id  | int64                | Drain cluster id (>= 1); UNSEEN_ID for no match in frozen mode |
| template     | string               | the template text (final state); UNSEEN_TEMPLATE when unseen   |

Any extra named fields of the header format follow as string columns.
"""

UNSEEN_ID = -1
UNSEEN_TEMPLATE = "<UNSEEN>"

CORE_COLUMNS = (
    "line_no", "source", "timestamp", "host", "process", "pid", "level", "session",
    "raw", "content", "masked", "template_id", "template",
)

# Canonical header fields every format maps into (others stay as extra columns).
HEADER_FIELDS = ("timestamp", "host", "process", "pid", "level")
