"""``python -m automl_engine run job.yml``."""
import sys

from .cli import main

sys.exit(main())
