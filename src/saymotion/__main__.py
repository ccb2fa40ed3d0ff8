import sys

from saymotion.cli import main

sys.exit(main())
