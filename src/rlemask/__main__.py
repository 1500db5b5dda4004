import sys

from rlemask.cli import main

sys.exit(main())
