"""``python -m benchmarks`` (``make bench``): run every benchmark in turn."""

from benchmarks import scan

scan.main()
