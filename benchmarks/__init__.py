"""wgf benchmarks: run one with ``python -m benchmarks.<name> [--quick]``; results in benchmarks/README.md."""
