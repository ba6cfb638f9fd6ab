"""Run store: manifests, Parquet tables, checkpoints; atomic writes and sharded tables."""

from stablecore.results.io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    read_json,
)
from stablecore.results.store import (
    LoadedRun,
    Run,
    create_run,
    list_runs,
    load_run,
    open_run,
    parse_shard,
    read_table,
    runs_home,
    table_names,
)

__all__ = [
    "LoadedRun",
    "Run",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "create_run",
    "list_runs",
    "load_run",
    "open_run",
    "parse_shard",
    "read_json",
    "read_table",
    "runs_home",
    "table_names",
]
