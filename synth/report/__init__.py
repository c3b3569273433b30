"""The run report: ``metrics.json`` and the self-contained ``report.html`` rendered from it."""
