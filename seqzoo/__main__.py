"""``python -m seqzoo``: the ``seqzoo`` command line."""

import sys

from seqzoo.cli import main

sys.exit(main())
