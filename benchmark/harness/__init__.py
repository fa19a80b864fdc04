"""Running benchmarks, the layer under the CLI: one run (``runner``), its temperature sweep, the bench grid
(local or on Dask), scoring a file, and ``make perf``. It may use every layer below."""
