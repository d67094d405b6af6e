import sys

from xsd.cli import main

sys.exit(main())
