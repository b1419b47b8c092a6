"""Workers: the loop that claims a queued trial, trains it and records it; the supervisor of one child
per GPU (or per worker); GPU monitoring and throughput."""
