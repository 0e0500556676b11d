"""Reading and writing: CSV / Parquet / stdin in chunks, columns, missing values and
series, result frames out, and what `-o` does with each kind of path."""
