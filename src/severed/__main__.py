import sys

from severed.cli import main

sys.exit(main())
