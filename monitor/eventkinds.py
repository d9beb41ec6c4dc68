"""The kinds of event the log records (no imports: `monitor events --kind` offers them without loading the database layer)."""

KINDS = (
    "fetch",
    "fetch_failed",
    "item",
    "article_failed",
    "match",
    "delivery",
    "delivery_failed",
    "reload",
    "reload_failed",
    "prune",
)
