"""`python -m tnas.cli` = `tnas`."""
import sys

from tnas.cli import main

sys.exit(main())
