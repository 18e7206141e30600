import sys

from hub.cli import main

main()
sys.exit(0)
