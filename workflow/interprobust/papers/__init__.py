"""Each paper's home: experiment code, tables, figures, scorecard lookups, claims and DAG helpers."""
