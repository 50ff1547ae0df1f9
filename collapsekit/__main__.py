import sys

from collapsekit.cli import main

sys.exit(main())
