.PHONY: bench

# The benchmark suite (ours vs peers vs redis-benchmark); ARGS="--quick" for a smoke run.
bench:
	scripts/bench $(ARGS)
