import sys

from skruntime.cli import main

sys.exit(main())
