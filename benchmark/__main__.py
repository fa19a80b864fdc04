import sys

from langgan_bench.cli import main

sys.exit(main())
