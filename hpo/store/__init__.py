"""The study in its storage: storage URLs and engines (retried, secrets hidden), creating and loading
studies, the trial queue and its atomic claim, the pruners, which trials are which, the config
read from a file, and the gRPC storage proxy."""
