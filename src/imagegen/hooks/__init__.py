"""The project's Kedro hooks (registered in `settings.py`).

`validation` (parameters at start-up, a samples-folder run, too few accepted
works), `lineage` (one ledger entry and one nested MLflow run per node run) and
`artifacts` (datasets logged as MLflow artifacts through the backlog) and
`writer` (one writer per project; cleanup after a killed writer).
"""
