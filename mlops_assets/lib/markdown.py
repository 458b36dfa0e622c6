"""Small Markdown renderings for asset metadata."""

import polars as pl


def markdown_table(df: pl.DataFrame) -> str:
    """`df` as a Markdown table (meant for a few preview rows)."""
    header = "| " + " | ".join(df.columns) + " |\n|" + "---|" * df.width
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join([header, *rows])
