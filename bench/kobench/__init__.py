"""kobench: the benchmark that proves or refutes "the fastest way to turn a Go monorepo into images".

It generates a synthetic Go monorepo, runs the real `./pants` (with the kocache plugin) on it through a
fixed list of scenarios, measures the same tree with plain baselines, and writes markdown + JSON results.
Run it with `bench/run` (see bench/README.md).
"""
