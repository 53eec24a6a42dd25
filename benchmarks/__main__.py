"""``python -m benchmarks run [--quick]``: the whole latency and throughput suite."""

import sys

from benchmarks import suite

sys.exit(suite.main(sys.argv[1:]))
