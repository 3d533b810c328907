"""Allow ``python -m av_perception.cli``."""

import sys

from av_perception.cli.main import main

sys.exit(main())
