"""``python -m privcausal.cli``: the ``privcausal`` command."""

import sys

from privcausal.cli.app import main

sys.exit(main())
