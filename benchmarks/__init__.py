"""chatwarden's benchmarks. Never part of the unit test run."""
