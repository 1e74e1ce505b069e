"""``python -m latest_image_build_cli``: the ``latest-image-build`` command."""

import sys

from latest_image_build_cli.main import main

sys.exit(main())
