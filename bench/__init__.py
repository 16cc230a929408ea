"""Breachdesk's performance harness: a data generator (``bench.generate``), the benchmarks
(``bench.run``) and a small-scale smoke run for CI (``bench.smoke``). See bench/README.md."""
