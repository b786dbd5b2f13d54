"""Small file helpers shared by every stage: bounded safe JSON reading/writing (jsonio), checked Parquet
reading (parquetio) and the `parsed.parquet` column contract (schema)."""
