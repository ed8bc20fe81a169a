"""``python -m harness.service``: the query service as its own process (see ``harness.service.process``)."""

import sys

from harness.service.process import main

sys.exit(main())
