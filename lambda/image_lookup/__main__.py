"""``python -m image_lookup``: the preview command."""

import sys

from image_lookup.cli import main

sys.exit(main())
