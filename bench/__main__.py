"""`python -m bench`: the whole benchmark (bench/corpus.py)."""

import sys

from bench.corpus import main

sys.exit(main())
