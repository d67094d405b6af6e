"""`python -m xsd`: the same as the `xsd` command."""
import sys

from xsd.cli import main

sys.exit(main())
