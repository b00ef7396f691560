import sys

from studio_client.cli import main

sys.exit(main())
