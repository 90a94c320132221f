"""`python -m tnas` = `tnas`."""
import sys

from tnas.cli import main

sys.exit(main())
